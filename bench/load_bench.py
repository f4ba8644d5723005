"""Load test: a realistic mix of visitors, verifications and operators saving drafts, on PostgreSQL.

    .venv/bin/pip install -e '.[bench]'                        # Locust, psutil
    .venv/bin/python bench/load_bench.py                       # build (once), then 10, 50, 200 users
    .venv/bin/python bench/load_bench.py --users 10 --duration 20
    .venv/bin/python bench/load_bench.py --rebuild --workers 4

Builds, into the PostgreSQL database `h_load_bench` (override with --pg-url), the register of
`bench/register_bench.py` (100,000 establishments, 300,000 reports, by its own builder), then adds
certificates to verify (issued for approved 2025 reports) and a pool of operator accounts, each
managing one establishment whose 2025 report is an open draft. Starts the real app
(`portal serve --workers N`: uvicorn, uvloop, httptools) on 127.0.0.1 and runs
Locust headless (`bench/load_locustfile.py`) for each number of concurrent users, each step
bounded in time. The mix, by users (each waits 1–3 s between pages, as a person reading): 80 %
public visitors (a search, then an establishment from its results), 10 % certificate
verifications (the form, then a code typed with spaces and lower case), 10 % operators (sign in
once, then: their report, a section's form, save it as a draft, back on the report).

Locust runs on the same 2 cores as the app (one process, gevent); its CPU time is recorded beside
the app's. Results: stdout, bench/results-load.json (every run) and the tables at the end of
bench/RESULTS-load.md (the latest run; the notes above them are kept).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import register_bench  # noqa: E402
from sqlalchemy import create_engine, func, insert, make_url, select, text, update  # noqa: E402

from app.auth.models import User  # noqa: E402
from app.auth.passwords import hash_password  # noqa: E402
from app.certificates.models import Certificate  # noqa: E402
from app.certificates.service import new_code  # noqa: E402
from app.conduct.models import Signature  # noqa: E402
from app.establishments.models import Establishment, EstablishmentOperator  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from app.reports.form import ReportFormDefinition  # noqa: E402
from app.reports.models import AnnualReport, ReportForm, ReportingPeriod  # noqa: E402

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/h_load_bench"
OPERATORS = 400
CERTIFICATES = 20_000
PASSWORD = "Carga-Portal-2026"
OPERATOR_EMAIL = "operador{}@carga.example.com"
TARGETS = Path(tempfile.gettempdir()) / "load_bench_targets.json"
LOCUSTFILE = ROOT / "bench" / "load_locustfile.py"
REPORT_YEAR = 2025
RESULTS_MARK = "<!-- The latest run, written by bench/load_bench.py: -->"


def _create_database(url: str) -> None:
    """The bench's own database, created on the server when it is not there yet."""
    server = make_url(url).set(database="postgres")
    name = make_url(url).database
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()


def _is_built(url: str) -> bool:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if not conn.scalar(text("SELECT to_regclass('establishment') IS NOT NULL")):
                return False
            return (conn.scalar(select(func.count()).select_from(Establishment)) or 0) >= (
                register_bench.ESTABLISHMENTS
            )
    finally:
        engine.dispose()


def add_certificates_and_operators(url: str) -> None:
    """Certificates for approved 2025 reports and operators with a 2025 draft each (once)."""
    engine = create_engine(url)
    rng = random.Random(9)
    with engine.begin() as conn:
        if conn.scalar(select(func.count()).select_from(Certificate)):
            engine.dispose()
            return
        period = conn.execute(
            select(ReportingPeriod.id, ReportingPeriod.deadline).where(
                ReportingPeriod.year == REPORT_YEAR
            )
        ).one()
        approved = conn.execute(
            select(AnnualReport.id, AnnualReport.establishment_id)
            .join(Signature, Signature.establishment_id == AnnualReport.establishment_id)
            .where(AnnualReport.period_id == period.id, AnnualReport.state == "approved")
            .order_by(AnnualReport.id)
            .limit(CERTIFICATES)
        ).all()
        conn.execute(
            insert(Certificate),
            [
                {
                    "number": f"CERT-{REPORT_YEAR}-{n + 1:06d}",
                    "code": new_code(),
                    "establishment_id": row.establishment_id,
                    "period_id": period.id,
                    "report_id": row.id,
                    "issued_on": date(2026, 4, 15),
                    "valid_until": date(2027, 3, 31),
                    "issued_at": datetime(2026, 4, 15, 15, tzinfo=UTC),
                    "pdf_es_key": secrets.token_hex(16),
                    "pdf_es_sha256": "0" * 64,
                }
                for n, row in enumerate(approved)
            ],
        )
        # Operators manage active signatories (they must file for 2025); each report is a draft
        # with the empty content the portal starts a report with.
        form = conn.scalar(select(ReportForm.content).order_by(ReportForm.id))
        definition = ReportFormDefinition(form)
        managed = conn.execute(
            select(Establishment.id, Establishment.category)
            .join(Signature, Signature.establishment_id == Establishment.id)
            .where(Signature.status == "active")
            .order_by(Establishment.id)
            .offset(50_000)
            .limit(OPERATORS)
        ).all()
        password_hash = hash_password(PASSWORD)
        now = datetime.now(UTC)
        conn.execute(
            insert(User),
            [
                {
                    "email": OPERATOR_EMAIL.format(i),
                    "password_hash": password_hash,
                    "role": "operator",
                    "locale": rng.choice(["es", "es", "es", "en"]),
                    "is_active": True,
                    "email_confirmed_at": now,
                    "created_at": now,
                    "password_changed_at": now,
                }
                for i in range(len(managed))
            ],
        )
        ids = dict(
            conn.execute(
                select(User.email, User.id).where(User.email.like("%@carga.example.com"))
            ).all()
        )
        conn.execute(
            insert(EstablishmentOperator),
            [
                {
                    "establishment_id": row.id,
                    "user_id": ids[OPERATOR_EMAIL.format(i)],
                    "created_at": now,
                }
                for i, row in enumerate(managed)
            ],
        )
        for row in managed:
            conn.execute(
                update(AnnualReport)
                .where(AnnualReport.establishment_id == row.id, AnnualReport.period_id == period.id)
                .values(state="draft", version=1, content=definition.empty_content(row.category))
            )
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def write_targets(url: str) -> None:
    """What the simulated people type and open, for the locustfile."""
    engine = create_engine(url)
    with engine.connect() as conn:
        codes = list(conn.scalars(select(Certificate.code).order_by(Certificate.id)))
        operators = [
            {"email": email, "establishment_id": establishment_id}
            for email, establishment_id in conn.execute(
                select(User.email, EstablishmentOperator.establishment_id)
                .join(EstablishmentOperator, EstablishmentOperator.user_id == User.id)
                .where(User.email.like("%@carga.example.com"))
                .order_by(User.id)
            )
        ]
    engine.dispose()
    TARGETS.write_text(
        json.dumps(
            {
                "words": register_bench.WORDS,
                "kinds": sorted({k for kinds in register_bench.KINDS.values() for k in kinds}),
                "categories": list(register_bench.KINDS),
                "establishments": register_bench.ESTABLISHMENTS,
                "codes": codes,
                "operators": operators,
                "password": PASSWORD,
                "year": REPORT_YEAR,
            },
            ensure_ascii=False,
        )
    )


# --- running Locust -------------------------------------------------------------------------------


def _process_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) used so far by these processes and their children."""
    import psutil

    total = 0.0
    for pid in pids:
        try:
            process = psutil.Process(pid)
            for p in [process, *process.children(recursive=True)]:
                times = p.cpu_times()
                total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def _server_pid(base: str) -> int:
    """The `portal serve` process that listens on the base URL's port (the workers' parent)."""
    import psutil

    port = int(base.rsplit(":", 1)[1])
    for conn in psutil.net_connections("tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == "LISTEN" and conn.pid:
            process = psutil.Process(conn.pid)
            while (parent := process.parent()) and "serve" in parent.cmdline():
                process = parent
            return process.pid
    raise RuntimeError("the server is not listening")


def _percentile(histogram: dict[int, int], fraction: float) -> float:
    """Locust's rounded response times (ms → count): the time under which `fraction` fall."""
    total = sum(histogram.values())
    seen = 0
    for ms in sorted(histogram):
        seen += histogram[ms]
        if seen >= fraction * total:
            return float(ms)
    return 0.0


def _kinds(stats: list[dict]) -> dict[str, dict]:
    """Requests, failures, req/s and p50/p99 per kind of request and in all ("Aggregated").

    Read from Locust's final JSON (its CSV is written when the time is up, before the requests
    still running are done); req/s over the step's whole span, first request to last.
    """
    span = max(s["last_request_timestamp"] or 0 for s in stats) - min(
        s["start_time"] for s in stats
    )
    kinds: dict[str, dict] = {}
    everything: dict[int, int] = {}
    for entry in stats:
        histogram = {int(ms): count for ms, count in entry["response_times"].items()}
        for ms, count in histogram.items():
            everything[ms] = everything.get(ms, 0) + count
        kinds[entry["name"]] = {
            "requests": entry["num_requests"],
            "failures": entry["num_failures"],
            "rps": round(entry["num_requests"] / span, 2),
            "p50_ms": _percentile(histogram, 0.50),
            "p99_ms": _percentile(histogram, 0.99),
            "max_ms": round(entry["max_response_time"]),
        }
    kinds = dict(sorted(kinds.items()))
    kinds["Aggregated"] = {
        "requests": sum(k["requests"] for k in kinds.values()),
        "failures": sum(k["failures"] for k in kinds.values()),
        "rps": round(sum(k["requests"] for k in kinds.values()) / span, 2),
        "p50_ms": _percentile(everything, 0.50),
        "p99_ms": _percentile(everything, 0.99),
        "max_ms": max(k["max_ms"] for k in kinds.values()),
    }
    return kinds


def run_step(base: str, users: int, duration: int, server_pid: int, out_dir: Path) -> dict:
    """One step: `users` concurrent users for `duration` seconds (ramped in over 5 s)."""
    prefix = out_dir / f"u{users}"
    server_cpu = _process_cpu([server_pid])
    load_before = os.getloadavg()
    started = time.monotonic()
    locust = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(LOCUSTFILE),
            "--headless",
            "--host",
            base,
            "-u",
            str(users),
            "-r",
            str(max(2, users // 5)),
            "-t",
            f"{duration}s",
            "--stop-timeout",
            "10",
            "--csv",
            str(prefix),
            "--json-file",
            str(prefix),
            "--only-summary",
            "--loglevel",
            "WARNING",
        ],
        env={**os.environ, "LOAD_TARGETS": str(TARGETS)},
        cwd=ROOT,
    )
    locust_cpu = 0.0
    loads = []
    while locust.poll() is None:
        locust_cpu = max(locust_cpu, _process_cpu([locust.pid]))
        loads.append(os.getloadavg()[0])
        time.sleep(2)
    elapsed = time.monotonic() - started
    server_cpu = _process_cpu([server_pid]) - server_cpu
    kinds = _kinds(json.loads(Path(f"{prefix}.json").read_text()))
    failures = []
    with open(f"{prefix}_failures.csv", newline="") as f:
        for row in csv.DictReader(f):
            failures.append(
                {
                    "kind": row["Name"],
                    "error": row["Error"][:300],
                    "count": int(row["Occurrences"]),
                }
            )
    result = {
        "users": users,
        "duration_s": duration,
        "wall_s": round(elapsed, 1),
        "kinds": kinds,
        "failures": failures,
        "app_cpu_s": round(server_cpu, 1),
        "locust_cpu_s": round(locust_cpu, 1),
        "load_before": [round(x, 2) for x in load_before],
        "load_during_max": round(max(loads, default=0.0), 2),
        "locust_exit": locust.returncode,
    }
    total = kinds.get("Aggregated", {})
    print(
        f"{users:>4} users: {total.get('rps', 0):.1f} req/s, p50 {total.get('p50_ms')} ms, "
        f"p99 {total.get('p99_ms')} ms, failures {total.get('failures')} "
        f"(app CPU {server_cpu:.0f} s, locust CPU {locust_cpu:.0f} s, load ≤ {result['load_during_max']})",
        flush=True,
    )
    for failure in failures:
        print(f"      {failure['count']} × {failure['kind']}: {failure['error']}", flush=True)
    return result


def _mix(step: dict) -> str:
    """How the step's requests split between visitors, verifications and operators."""
    kinds = {k: v["requests"] for k, v in step["kinds"].items() if k != "Aggregated"}
    total = sum(kinds.values()) or 1
    public = sum(v for k, v in kinds.items() if k in ("search", "establishment page"))
    verify = sum(v for k, v in kinds.items() if k.startswith("verify"))
    operators = total - public - verify
    return (
        f"{step['users']} users: public {100 * public / total:.0f} %, "
        f"verification {100 * verify / total:.0f} %, operators {100 * operators / total:.0f} %"
    )


def markdown(results: dict) -> str:
    """The tables of RESULTS-load.md for one run."""
    lines = [
        f"Run of {results['started']} UTC: {results['workers']} uvicorn workers, PostgreSQL "
        f"`{results['database']}`, {results['duration_s']} s per step.",
        "",
        "| users | req/s | p50 ms | p99 ms | requests | errors | app CPU s | Locust CPU s | load (1 min) before → max |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for step in results["steps"]:
        total = step["kinds"]["Aggregated"]
        lines.append(
            f"| {step['users']} | {total['rps']:.1f} | {total['p50_ms']:.0f} | {total['p99_ms']:.0f} "
            f"| {total['requests']} | {total['failures']} | {step['app_cpu_s']} | "
            f"{step['locust_cpu_s']} | {step['load_before'][0]} → {step['load_during_max']} |"
        )
    lines += ["", "Share of the requests: " + "; ".join(_mix(s) for s in results["steps"]) + "."]
    lines += ["", "Per kind of request (req/s, p50 / p99 ms, errors):", ""]
    names = sorted({n for s in results["steps"] for n in s["kinds"]} - {"Aggregated"})
    header = "| kind | " + " | ".join(f"{s['users']} users" for s in results["steps"]) + " |"
    lines += [header, "|---|" + "---:|" * len(results["steps"])]
    for name in names:
        cells = []
        for step in results["steps"]:
            k = step["kinds"].get(name)
            cells.append(
                f"{k['rps']:.1f}; {k['p50_ms']:.0f} / {k['p99_ms']:.0f}; {k['failures']}"
                if k
                else "–"
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    errors = [(s["users"], f) for s in results["steps"] for f in s["failures"]]
    lines += ["", "Errors: " + ("none." if not errors else "")]
    for users, failure in errors:
        lines.append(f"- {users} users: {failure['count']} × {failure['kind']}: {failure['error']}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--users", default="10,50,200")
    parser.add_argument("--duration", type=int, default=40)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    try:
        import locust  # noqa: F401
    except ImportError:
        sys.exit(
            "Locust is not installed: .venv/bin/pip install -e '.[bench]', then run this again."
        )
    url = args.pg_url
    _create_database(url)
    if args.rebuild:
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        engine.dispose()
    if not _is_built(url):
        register_bench.build(url, register_bench.ESTABLISHMENTS)
    else:
        upgrade(url)
    add_certificates_and_operators(url)
    write_targets(url)
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    steps = []
    with (
        tempfile.TemporaryDirectory() as out_dir,
        register_bench.serve(url, args.workers) as base,
    ):
        server_pid = _server_pid(base)
        for users in (int(u) for u in args.users.split(",")):
            steps.append(run_step(base, users, args.duration, server_pid, Path(out_dir)))
    results = {
        "started": started,
        "database": url.rsplit("/", 1)[-1],
        "workers": args.workers,
        "duration_s": args.duration,
        "steps": steps,
    }
    out = ROOT / "bench" / "results-load.json"
    runs = json.loads(out.read_text()) if out.exists() else []
    runs.append(results)
    out.write_text(json.dumps(runs, indent=1, ensure_ascii=False))
    tables = markdown(results)
    print()
    print(tables)
    # The latest run replaces the measured part of RESULTS-load.md; the notes above it stay.
    notes = ROOT / "bench" / "RESULTS-load.md"
    text_before = notes.read_text().split(RESULTS_MARK)[0] if notes.exists() else "# Load test\n\n"
    notes.write_text(text_before + RESULTS_MARK + "\n\n" + tables)


if __name__ == "__main__":
    main()
