"""Benchmark of the public register with 100,000 establishments and 300,000 reports.

    .venv/bin/python bench/register_bench.py            # build (once) and measure, SQLite and PostgreSQL
    .venv/bin/python bench/register_bench.py --rebuild  # build the databases again
    .venv/bin/python bench/register_bench.py --only sqlite --duration 5

Builds the data with bulk inserts (a SQLite file under /tmp and the PostgreSQL database
`helper_c_bench`, override with --pg-url), prints the query plan of every search shape, then
starts the app with uvicorn (2 workers) on loopback against each database, once with the page
cache and once without (every request a miss), and runs `wrk` (32 connections) on each URL, the
bare endpoint `/livez` in the same run, then on a skewed spread of thousands of distinct URLs
(a Lua script, which also counts the cache's hits). Needs Debian's `wrk` (`apt-get install wrk`).
Results go to stdout and to bench/results-register.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, insert, select, text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from app.conduct.models import CodeVersion, Signature  # noqa: E402
from app.establishments.models import Establishment, RegisterTerm  # noqa: E402
from app.establishments.names import fold, terms_of  # noqa: E402
from app.jurisdiction import current_scheme  # noqa: E402
from app.jurisdiction.peru import ruc_check_digit  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from app.reports.models import AnnualReport, ReportForm, ReportingPeriod  # noqa: E402

ESTABLISHMENTS = 100_000
SQLITE_PATH = Path("/tmp/register_bench.db")
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/helper_c_bench"

KINDS = {
    "lodging": ["Hostal", "Hotel", "Hospedaje", "Casa de Huéspedes", "Lodge", "Albergue"],
    "travel_agency": ["Agencia de Viajes", "Viajes", "Turismo", "Tours"],
    "adventure_operator": ["Aventura", "Trekking", "Expediciones", "Rafting"],
    "tour_guide": ["Guía", "Guías", "Caminos"],
    "restaurant": ["Restaurante", "Picantería", "Cevichería", "Café", "Pollería"],
    "tourist_transport": ["Transportes", "Traslados", "Buses"],
    "events_organizer": ["Eventos", "Convenciones", "Producciones"],
    "other": ["Artesanías", "Centro Cultural", "Mirador"],
}
WORDS = [
    "Ñusta",
    "Cóndor",
    "Inti",
    "Killa",
    "Pachamama",
    "Wiracocha",
    "Qori",
    "Sumaq",
    "Tambo",
    "Yachay",
    "Mamacha",
    "Apu",
    "Ayni",
    "Chaska",
    "Huayna",
    "Illari",
    "Kusi",
    "Mayu",
    "Nina",
    "Pacha",
    "Puma",
    "Qhapaq",
    "Rumi",
    "Sara",
    "Tika",
    "Urpi",
    "Wayra",
    "Yaku",
    "Amaru",
    "Anka",
    "Ccoya",
    "Chaski",
    "Hatun",
    "Inka",
    "Kallpa",
    "Kantu",
    "Llaqta",
    "Machu",
    "Muña",
    "Ñan",
    "Pisaq",
    "Quilla",
    "Runa",
    "Saqsay",
    "Suyu",
    "Taki",
    "Tupaq",
    "Uchu",
    "Waman",
    "Yawar",
    "Allin",
    "Ayllu",
    "Chakana",
    "Haylli",
    "Kuntur",
    "Lliklla",
    "Mikuy",
    "Pukara",
    "Qocha",
    "Sonqo",
    "Tullpa",
    "Wasi",
    "Yupanqui",
    "Amazonía",
    "Selva",
    "Andino",
    "Pacífico",
    "Titicaca",
    "Colca",
    "Misti",
    "Huascarán",
    "Paracas",
    "Nazca",
    "Chavín",
    "Kuélap",
    "Sipán",
    "Chan",
    "Moray",
    "Maras",
    "Ollantay",
    "Choquequirao",
    "Vilcabamba",
    "Manu",
    "Tambopata",
    "Iquitos",
    "Marañón",
    "Ucayali",
    "Urubamba",
    "Vilcanota",
    "Ausangate",
    "Salkantay",
    "Huacachina",
    "Máncora",
    "Sol",
    "Luna",
    "Estrella",
    "Montaña",
    "Río",
    "Lago",
    "Valle",
    "Sierra",
    "Costa",
    "Jardín",
    "Dorado",
    "Real",
    "Imperial",
    "Colonial",
    "Libertad",
    "Esperanza",
    "Victoria",
    "Ángeles",
    "Señor",
    "Milagros",
    "Rosario",
    "Carmen",
    "Mercedes",
    "Santa",
    "Rosa",
    "Bolívar",
    "Grau",
    "Arequipeña",
    "Limeña",
    "Cusqueña",
    "Norteña",
    "Sureña",
    "Selvática",
    "Andina",
    "Mística",
    "Sagrado",
]
SURNAMES = [
    "Quispe",
    "Mamani",
    "Huamán",
    "Flores",
    "Condori",
    "Rojas",
    "Sánchez",
    "García",
    "Torres",
    "Chávez",
    "Ramos",
    "Mendoza",
    "Vargas",
    "Castillo",
    "Gutiérrez",
    "Díaz",
    "Espinoza",
    "Pérez",
    "Rodríguez",
    "López",
    "Ccahuana",
    "Apaza",
    "Choque",
    "Ticona",
    "Yupanqui",
]
FORMS = ["S.A.C.", "E.I.R.L.", "S.R.L.", "S.A."]
PROVINCES = ["Capital", "Norte", "Sur", "Valle", "Altura", "Frontera", "Lago", "Río"]
STATES = (
    ["approved"] * 70
    + ["submitted"] * 8
    + ["resubmitted"] * 4
    + ["rejected"] * 5
    + ["changes_requested"] * 5
    + ["draft"] * 8
)


def _ruc(i: int) -> str:
    first_ten = f"20{i + 10_000_000:08d}"
    return first_ten + str(ruc_check_digit(first_ten))


def _rows(rng: random.Random, count: int):  # type: ignore[no-untyped-def]
    regions = [r.code for r in current_scheme().regions]
    for i in range(count):
        category = rng.choice(list(KINDS))
        words = rng.sample(WORDS, rng.choice((1, 1, 2)))
        trade = f"{rng.choice(KINDS[category])} {' '.join(words)}"
        if rng.random() < 0.5:
            legal = f"Inversiones {rng.choice(WORDS)} {rng.choice(FORMS)}"
        else:
            legal = f"{rng.choice(SURNAMES)} {rng.choice(SURNAMES)} {rng.choice(FORMS)}"
        region = rng.choice(regions)
        province = f"{rng.choice(PROVINCES)} {region[3:].title()}"
        yield {
            "id": i + 1,
            "ruc": _ruc(i),
            "branch_code": "0000",
            "legal_name": legal,
            "trade_name": trade,
            "category": category,
            "region": region,
            "province": province,
            "district": "Centro",
            "address": f"Jr. {rng.choice(WORDS)} {rng.randint(1, 999)}",
            "website": None,
            "phone": None,
            "created_at": datetime(2024, 1, 1, tzinfo=UTC),
            "name_key": fold(trade),
            "province_key": fold(province),
        }


def build(url: str, count: int) -> None:
    """The schema by the migrations, then the data in bulk (the ORM events are not needed: the
    folded keys and terms are computed here with the same functions)."""
    started = time.monotonic()
    upgrade(url)
    engine = create_engine(url)
    rng = random.Random(2026)
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA synchronous=OFF")
        version_id = conn.scalar(select(CodeVersion.id).order_by(CodeVersion.id))
        form_id = conn.scalar(select(ReportForm.id).order_by(ReportForm.id))
        periods = []
        for year in (2023, 2024, 2025):
            pid = conn.execute(
                insert(ReportingPeriod).values(
                    year=year,
                    opens_on=date(year + 1, 1, 1),
                    deadline=date(year + 1, 3, 31),
                    grace_days=30,
                    cutoff_on=date(year, 12, 31),
                    report_form_id=form_id,
                    created_at=datetime(2023, 1, 1, tzinfo=UTC),
                )
            ).inserted_primary_key[0]
            periods.append(pid)
        batch: list[dict] = []
        terms: list[dict] = []
        signatures: list[dict] = []
        reports: list[dict] = []

        def flush() -> None:
            for table, rows in (
                (Establishment, batch),
                (RegisterTerm, terms),
                (Signature, signatures),
                (AnnualReport, reports),
            ):
                if rows:
                    conn.execute(insert(table), rows)
                    rows.clear()

        for row in _rows(rng, count):
            batch.append(row)
            terms.extend(
                {"term": t, "establishment_id": row["id"], "name_key": row["name_key"]}
                for t in terms_of(row["trade_name"], row["legal_name"])
            )
            signed = datetime(2019, 1, 1, 12, tzinfo=UTC) + timedelta(days=rng.randint(0, 2190))
            signatures.append(
                {
                    "establishment_id": row["id"],
                    "code_version_id": version_id,
                    "signatory_number": f"CC-{signed.year}-{row['id']:06d}",
                    "representative_name": "Representante Bench",
                    "document_type": "DNI",
                    "document_number": "40000000",
                    "language": "es",
                    "status": rng.choices(
                        ["active", "suspended", "revoked", "withdrawn"], [90, 4, 3, 3]
                    )[0],
                    "signed_at": signed,
                }
            )
            for pid in periods:
                reports.append(
                    {
                        "establishment_id": row["id"],
                        "period_id": pid,
                        "state": rng.choice(STATES),
                        "version": 1,
                        "content": {},
                        "created_at": signed,
                        "updated_at": signed,
                    }
                )
            if len(batch) >= 5000:
                flush()
        flush()
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(
                "SELECT setval('establishment_id_seq', (SELECT max(id) FROM establishment))"
            )
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    print(f"built {url} in {time.monotonic() - started:.0f} s", flush=True)


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.__tablename__: conn.scalar(select(func.count()).select_from(t))  # type: ignore[attr-defined]
            for t in (Establishment, Signature, AnnualReport, RegisterTerm)
        }


# --- what is measured ------

URLS = {
    "bare (/livez)": "/livez",
    "health (/healthz, one query)": "/healthz",
    "register, no search yet": "/register",
    "search: name prefix 'hos'": "/register?q=hos",
    "search: name prefix 'wira'": "/register?q=wira",
    "search: accent word 'ñusta'": "/register?q=" + quote("ñusta"),
    "search: two words 'hostal cóndor'": "/register?q=" + quote("hostal cóndor"),
    "search: region + category": "/register?region=PE-CUS&category=lodging",
    "search: RUC prefix": "/register?q=2010001",
    "search: word + region": "/register?q=wira&region=PE-CUS",
    "search: region + standing": "/register?region=PE-ARE&standing=non_compliant",
    "establishment page": "/register/{entry}",
    # A visitor who already has the anonymous session cookie of an earlier page (a browser's
    # second page): wrk sends no cookie otherwise.
    "search: name prefix 'wira', returning visitor": "/register?q=wira",
}
#: The cookie an anonymous visitor carries after a first page (any 43 URL-safe characters).
RETURNING = {"Cookie": "portal_sid=" + "v" * 43}


def explain(url: str) -> dict[str, list[str]]:
    """The query plans of every statement a search runs, for each search shape."""
    from sqlalchemy import event
    from sqlmodel import Session

    from app.register.service import RegisterQuery, search

    engine = create_engine(url)
    shapes = {
        "prefix 'hos'": RegisterQuery(q="hos"),
        "accent word 'ñusta'": RegisterQuery(q="ñusta"),
        "two words": RegisterQuery(q="hostal cóndor"),
        "word + region": RegisterQuery(q="wira", region="PE-CUS"),
        "region + category": RegisterQuery(region="PE-CUS", category="lodging"),
        "RUC prefix": RegisterQuery(q="2010001"),
        "region + standing": RegisterQuery(region="PE-ARE", standing="non_compliant"),
    }
    plans: dict[str, list[str]] = {}
    sqlite = engine.dialect.name == "sqlite"
    seen: list[tuple[str, object]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if not statement.startswith("EXPLAIN"):
            seen.append((statement, parameters))

    with Session(engine) as session:
        for name, query in shapes.items():
            seen.clear()
            started = time.perf_counter()
            search(db_session=session, query=query)
            elapsed = (time.perf_counter() - started) * 1000
            statements = list(seen)
            lines = [f"(search in-process, cold: {elapsed:.1f} ms)"]
            for statement, parameters in statements[:2]:  # the count and the page
                prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN (ANALYZE, COSTS OFF) "
                cursor = session.connection().connection.cursor()
                cursor.execute(prefix + statement, parameters)
                lines += ["--"] + [str(r[-1]) for r in cursor.fetchall()]
            plans[name] = lines
    engine.dispose()
    return plans


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spread(rng: random.Random, entries: int = 5_000) -> list[str]:
    """Thousands of distinct register URLs, most popular first: name prefixes and whole words
    (with and without accents), two words, RUC prefixes, region + category, region + standing,
    second and third pages, and establishment pages."""
    regions = [r.code for r in current_scheme().regions]
    words = [w for w in WORDS + [k for ks in KINDS.values() for k in ks] if len(w) >= 3]
    searches: set[str] = set()
    for word in words:
        folded = fold(word)
        searches.add(word.lower())
        searches.update(folded[:n] for n in range(3, len(folded) + 1))
    while len(searches) < 2_500:
        kind = rng.choice(KINDS[rng.choice(list(KINDS))])
        searches.add(f"{kind} {rng.choice(WORDS)}".lower())
    urls = ["/register?q=" + quote(q) for q in sorted(searches)]
    urls += [
        f"/register?q={_ruc(rng.randrange(ESTABLISHMENTS))[:n]}"
        for n in (5, 6, 7)
        for _ in range(150)
    ]
    urls += [f"/register?region={r}&category={c}" for r in regions for c in KINDS]
    urls += [f"/register?region={r}&standing=non_compliant" for r in regions[:8]]
    urls += [u + "&page=" + str(p) for u in rng.sample(urls, 400) for p in (2, 3)]
    urls += [f"/register/{i}" for i in rng.sample(range(1, ESTABLISHMENTS + 1), entries)]
    urls = sorted(set(urls))
    rng.shuffle(urls)
    return urls


# wrk: each request picks the URL of rank i with probability ~1/i (i = n^u, u uniform): a few
# searches are very popular, most are rare. Counts the pages served from the cache.
LUA = """
urls = {}
for line in io.lines(os.getenv("REGISTER_URLS")) do urls[#urls + 1] = line end
n = #urls
hits, shared, misses = 0, 0, 0
local threads, counter = {}, 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end
function init(args) math.randomseed(os.time() * 100 + id) end
function request()
  return wrk.format("GET", urls[math.floor(n ^ math.random())])
end
function response(status, headers, body)
  local state = headers["x-register-cache"]
  if state == "hit" then hits = hits + 1
  elseif state == "shared" then shared = shared + 1
  elseif state == "miss" then misses = misses + 1 end
end
function done(summary, latency, requests)
  local h, s, m = 0, 0, 0
  for _, t in ipairs(threads) do
    h = h + t:get("hits"); s = s + t:get("shared"); m = m + t:get("misses")
  end
  io.write(string.format("CACHE hits=%d shared=%d misses=%d\\n", h, s, m))
end
"""


def _wrk(
    url: str, duration: int, urls: list[str] | None = None, headers: dict[str, str] | None = None
) -> dict[str, float]:
    command = ["wrk", "-t2", "-c32", f"-d{duration}s", "--latency"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    env = dict(os.environ)
    if urls is not None:
        folder = Path("/tmp/register_bench_wrk")
        folder.mkdir(exist_ok=True)
        (folder / "urls.txt").write_text("\n".join(urls) + "\n")
        (folder / "spread.lua").write_text(LUA)
        env["REGISTER_URLS"] = str(folder / "urls.txt")
        command += ["-s", str(folder / "spread.lua")]
    load = os.getloadavg()[0]
    out = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, env=env
    ).stdout

    def ms(label: str) -> float:
        match = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        assert match, out
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result = {
        "rps": rps,
        "p50_ms": ms("50"),
        "p99_ms": ms("99"),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "load_1min": round((load + os.getloadavg()[0]) / 2, 1),
    }
    cache = re.search(r"CACHE hits=(\d+) shared=(\d+) misses=(\d+)", out)
    if cache:
        hits, shared, misses = (int(g) for g in cache.groups())
        # Served from the cache: from the worker's own memory or from the pages the workers share.
        result["hit_rate"] = round((hits + shared) / max(1, hits + shared + misses), 3)
        result["shared_rate"] = round(shared / max(1, hits + shared + misses), 3)
    return result


@contextmanager
def serve(url: str, workers: int = 2, cache_bytes: int | None = None) -> Iterator[str]:
    """The app as `portal serve` runs it (uvicorn, uvloop, httptools) on a free loopback port;
    yields its base URL. `cache_bytes` sets the register page cache (0: off)."""
    port = _free_port()
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": url,
        "PORTAL_ENVIRONMENT": "development",
        "PYTHONPATH": str(ROOT),
    }
    if cache_bytes is not None:
        env["PORTAL_REGISTER_CACHE_BYTES"] = str(cache_bytes)
    # `portal serve` itself (uvicorn with its settings), with this checkout's code.
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.cli",
            "serve",
            "--workers",
            str(workers),
            "--port",
            str(port),
            "--no-access-log",
        ],
        env=env,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        for _ in range(150):
            try:
                if httpx.get(base + "/livez").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def measure(url: str, duration: int) -> dict[str, dict[str, dict[str, float]]]:
    """Each URL, then the spread of URLs, with the page cache (default size) and without it
    (every request a miss), the bare endpoint measured in the same server each time."""
    import httpx

    urls = spread(random.Random(7))
    print(f"  spread: {len(urls)} distinct URLs", flush=True)
    report: dict[str, dict[str, dict[str, float]]] = {}
    for mode, cache_bytes in (("cached", None), ("uncached", 0)):
        with serve(url, cache_bytes=cache_bytes) as base:
            entry = ESTABLISHMENTS // 2
            results: dict[str, dict[str, float]] = {}
            for name, path in URLS.items():
                target = base + path.format(entry=entry)
                for _ in range(20):  # warm both workers
                    response = httpx.get(target)
                    assert response.status_code == 200, (target, response.status_code)
                results[name] = _wrk(
                    target, duration, headers=RETURNING if "returning" in name else None
                )
                results[name]["bytes"] = len(response.content)
                print(f"  {mode} {name:<36} {results[name]}", flush=True)
            runs = {"bare, through the same Lua script": ["/livez"]}
            if mode == "cached":
                runs["spread of URLs, first pass (cache empty)"] = urls
            runs["spread of URLs (skewed)"] = urls
            for name, paths in runs.items():
                # The first pass is long: the cache fills as a real site's would over time.
                seconds = duration if len(paths) == 1 else 60 if "first" in name else duration * 3
                results[name] = _wrk(base, seconds, paths)
                print(f"  {mode} {name:<36} {results[name]}", flush=True)
            report[mode] = results
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--count", type=int, default=ESTABLISHMENTS)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk (Debian), then run this again.")
    targets = {"sqlite": f"sqlite:///{SQLITE_PATH}", "postgresql": args.pg_url}
    if args.only:
        targets = {args.only: targets[args.only]}
    report: dict[str, object] = {}
    for name, url in targets.items():
        engine = create_engine(url)
        try:
            if name == "postgresql":
                if args.rebuild:
                    with engine.begin() as conn:
                        conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
                with engine.connect() as conn:
                    built = conn.scalar(text("SELECT to_regclass('establishment') IS NOT NULL"))
            else:
                if args.rebuild:
                    SQLITE_PATH.unlink(missing_ok=True)
                built = SQLITE_PATH.exists()
            if not built or _counts(engine)["establishment"] < args.count:
                build(url, args.count)
            else:
                upgrade(url)  # an existing database, brought to the current schema
            counts = _counts(engine)
        finally:
            engine.dispose()
        print(f"{name}: {counts}", flush=True)
        plans = explain(url)
        for shape, plan in plans.items():
            print(f"  plan {shape}:", *plan, sep="\n    ")
        report[name] = {"counts": counts, "plans": plans, "results": measure(url, args.duration)}
    out = ROOT / "bench" / "results-register.json"
    previous = json.loads(out.read_text()) if out.exists() else {}
    previous.update(report)
    out.write_text(json.dumps(previous, indent=1, ensure_ascii=False))
    for name, data in report.items():
        for mode, results in data["results"].items():  # type: ignore[index]
            print(f"\n{name}, {mode}: | URL | req/s | p50 ms | p99 ms | ratio | hit rate | load |")
            for label, r in results.items():
                bare = results[
                    "bare, through the same Lua script"
                    if "Lua" in label or "spread" in label
                    else "bare (/livez)"
                ]["rps"]
                print(
                    f"| {label} | {r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
                    f"{r['rps'] / bare:.2f} | {r.get('hit_rate', '')} | {r['load_1min']} |"
                )


if __name__ == "__main__":
    main()
