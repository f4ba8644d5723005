"""The non-compliance PDF: the naive single-table WeasyPrint render against the portal's renderer
(light layout, chunks rendered by a process pool, page labels stamped), same rows, one run.

    .venv/bin/python bench/noncompliance_pdf.py [ROWS ...]     # default: 1000 10000

Each variant runs in its own child process. Time is wall-clock in that child; memory is the peak
of the summed resident set size (RSS) of the child and all its descendants (the pool's workers),
sampled every 10 ms from /proc, and, as a cross-check, the largest single-process peak reported by
the kernel (getrusage RUSAGE_CHILDREN ru_maxrss; with spawned workers it can report the parent's
size, since it keeps the high-water mark from before exec). CPU time is user + system time, which
other load on the machine changes much less than wall time: "render" = the render call only (the
child itself plus the pool workers it waited for), "whole child" = the child process and all its
descendants from start to exit (Python start-up, imports of the app, building the rows).
Results are printed to stdout as Markdown.
"""

from __future__ import annotations

import json
import os
import platform
import random
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORDS = [
    "Hostal",
    "Hotel",
    "Lodge",
    "Ecoalbergue",
    "Restaurante",
    "Agencia",
    "Viajes",
    "Turismo",
    "Inka",
    "Amazonas",
    "Tambopata",
    "Qosqo",
    "Ñusta",
    "Pachamama",
    "Titicaca",
    "Andino",
    "Reserva",
    "Colca",
    "Misti",
    "Paracas",
    "Huacachina",
    "Chan",
    "Chan",
]
REGIONS = ("PE-CUS", "PE-MDD", "PE-PUN", "PE-LOR", "PE-ARE", "PE-LMA")
CATEGORIES = ("lodging", "travel_agency", "restaurant", "tour_guide", "events_organizer")


def make_rows(count: int):  # type: ignore[no-untyped-def]
    from app.noncompliance.service import REASONS, Row

    rng = random.Random(2026)
    rows = []
    for n in range(1, count + 1):
        name = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 7)))
        if n % 50 == 0:  # now and then a very long name, which must wrap
            name = (name + " ") * 6
        rows.append(
            Row(
                establishment_id=n,
                trade_name=f"{name} {n}",
                legal_name=f"Inversiones {rng.choice(WORDS)} {rng.choice(WORDS)} S.A.C.",
                ruc=f"20{rng.randint(10**8, 10**9 - 1)}",
                branch_code=f"{rng.randint(0, 9999):04d}",
                region=rng.choice(REGIONS),
                category=rng.choice(CATEGORIES),
                reason=rng.choice(REASONS),
                signature_status=rng.choice(("active", "active", "active", "suspended")),
                days_overdue=75,
            )
        )
    rows.sort(key=lambda r: (r.region, r.trade_name))
    return rows


def heading():  # type: ignore[no-untyped-def]
    from app.noncompliance.pdf import Heading

    return Heading(
        issuer="República del Perú · Ministerio de Comercio Exterior y Turismo",
        directorate="",
        title="Lista de incumplimiento: informe 2025",
        running_title="Lista de incumplimiento: informe 2025 · 20 de junio de 2026, 10:00 (PET)",
        facts=(("Región", "Todas las regiones"), ("Categoría", "Todas las categorías")),
        totals=(("Sin informe", 0), ("Total", 0)),
        notes=(),
    )


NAIVE_TEMPLATE = """<!DOCTYPE html><html lang="es"><head><meta charset="utf-8">
<link rel="stylesheet" href="pdf.css">
<style>table.table td, table.table th {{ vertical-align: top; }}</style></head><body>
<header><p class="issuer">{issuer}</p><h1>{title}</h1></header>
<table class="table"><thead><tr><th>Establecimiento</th><th>RUC</th><th>Región</th>
<th>Categoría</th><th>Motivo</th><th>Días de atraso</th><th>Firma</th></tr></thead><tbody>
{rows}</tbody></table></body></html>"""


def naive(rows) -> bytes:  # type: ignore[no-untyped-def]
    """What one writes first: one HTML table, one WeasyPrint document (with pdf.css's page numbers)."""
    from html import escape

    from weasyprint import HTML

    from app.noncompliance.render_worker import PDF_BASE
    from app.noncompliance.service import reason_label, signature_status_label
    from app.web import category_name, region_name

    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{escape(str(v))}</td>"
            for v in (
                f"{r.trade_name} ({r.legal_name})",
                f"{r.ruc}-{r.branch_code}",
                region_name(r.region),
                category_name(r.category),
                reason_label(r.reason),
                r.days_overdue,
                signature_status_label(r.signature_status),
            )
        )
        + "</tr>"
        for r in rows
    )
    h = heading()
    html = NAIVE_TEMPLATE.format(issuer=escape(h.issuer), title=escape(h.title), rows=body)
    return HTML(string=html, base_url=str(PDF_BASE)).write_pdf()


def portal(rows) -> bytes:  # type: ignore[no-untyped-def]
    from app.noncompliance.pdf import noncompliance_pdf

    return noncompliance_pdf(heading=heading(), rows=rows, locale="es")


def child(variant: str, count: int) -> None:
    """Run one variant and print its figures as JSON."""
    from app import i18n

    i18n.set_locale("es")
    rows = make_rows(count)
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    body = (naive if variant == "naive" else portal)(rows)
    seconds = time.perf_counter() - started
    render_cpu = _cpu_seconds() - cpu_before
    from io import BytesIO

    from pypdf import PdfReader

    try:  # after the clock stops: a failure here must not lose the figures measured
        pages = len(PdfReader(BytesIO(body)).pages)
    except Exception:  # noqa: BLE001
        pages = -1
    print(
        json.dumps(
            {"seconds": seconds, "render_cpu": render_cpu, "bytes": len(body), "pages": pages}
        )
    )


def _cpu_seconds() -> float:
    """User + system time of this process and of the children it has waited for (pool workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _tree_rss(root: int) -> int:
    """Resident memory of a process and all its descendants, in bytes."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                parts = f.read().rsplit(")", 1)[1].split()
            ppid = int(parts[1])
            with open(f"/proc/{entry}/statm") as f:
                rss[int(entry)] = int(f.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def measure(variant: str, count: int) -> dict[str, float]:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    before = usage.ru_maxrss
    cpu_before = usage.ru_utime + usage.ru_stime
    process = subprocess.Popen(
        [sys.executable, __file__, "--child", variant, str(count)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(process.pid))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    out, _ = process.communicate()
    done.set()
    sampler.join()
    if process.returncode:
        raise SystemExit(f"{variant} {count} failed")
    result = json.loads(out.strip().splitlines()[-1])
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    after = usage.ru_maxrss
    # CPU time (user + system) of the child and every descendant it waited for (the pool's
    # workers): unlike wall time, hardly affected by other work on the machine.
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime - cpu_before
    result["tree_peak_mb"] = peak / 2**20
    # ru_maxrss of children is the largest of any one waited-for descendant (KiB on Linux).
    result["largest_process_mb"] = max(before, after) / 1024 if after > before else float("nan")
    return result


VARIANTS = ("portal", "naive")


def main(counts: list[int]) -> None:
    print(
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print()
    print(f"Load average at start: {os.getloadavg()[0]:.1f}")
    print()
    print(
        "| rows | variant | wall s | wall ms/row | CPU s, render | CPU ms/row, render "
        "| CPU s, whole child | pages | PDF KB | peak RSS, process tree (MB) "
        "| largest process (MB) |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for count in counts:
        results = {}
        for variant in VARIANTS:
            r = measure(variant, count)
            results[variant] = r
            print(
                f"| {count} | {variant} | {r['seconds']:.1f} | {1000 * r['seconds'] / count:.2f} "
                f"| {r['render_cpu']:.1f} | {1000 * r['render_cpu'] / count:.2f} "
                f"| {r['cpu_seconds']:.1f} | {r['pages']} | {r['bytes'] // 1024} | {r['tree_peak_mb']:.0f} "
                f"| {r['largest_process_mb']:.0f} |",
                flush=True,
            )
        n, p = results["naive"], results["portal"]
        print(
            f"| {count} | **ratio naive/portal** | **{n['seconds'] / p['seconds']:.1f}×** | "
            f"| **{n['render_cpu'] / p['render_cpu']:.1f}×** | "
            f"| **{n['cpu_seconds'] / p['cpu_seconds']:.1f}×** | | "
            f"| **{n['tree_peak_mb'] / p['tree_peak_mb']:.1f}×** | |",
            flush=True,
        )
        print(f"Load average after {count} rows: {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], int(sys.argv[3]))
    else:
        main([int(a) for a in sys.argv[1:]] or [1000, 10000])
