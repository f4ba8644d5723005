"""How long a preview and an import of N signatories take, and how much memory they hold.

    .venv/bin/python bench/import_bench.py [--rows 10000] [--postgres URL]

Writes a CSV and an XLSX of N made-up signatories (valid RUCs, every region and category, a third
with a signatory number, half with an e-mail), then on a fresh SQLite database and on PostgreSQL
(default: the `helper_b_bench` database, whose schema is dropped) times: the preview of an empty
register, the import, and the preview and import of the same file again (all rows unchanged).
Peak Python memory (tracemalloc) is measured in a separate run of the preview, at N and at 4N rows:
it must not grow with the file.
"""

from __future__ import annotations

import argparse
import csv
import gc
import random
import sys
import tempfile
import time
import tracemalloc
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from openpyxl import Workbook  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlmodel import Session  # noqa: E402

from app.db import make_engine  # noqa: E402
from app.imports import service  # noqa: E402
from app.jurisdiction import current_scheme  # noqa: E402
from app.jurisdiction.peru import ruc_check_digit  # noqa: E402
from app.migrate import upgrade  # noqa: E402

HEADER = [
    "RUC",
    "Código de sucursal",
    "Razón social",
    "Nombre comercial",
    "Categoría",
    "Departamento",
    "Provincia",
    "Distrito",
    "Dirección",
    "Fecha de firma",
    "N° de signatario",
    "Correo electrónico",
]


def rows(count: int):  # type: ignore[no-untyped-def]
    scheme = current_scheme()
    regions = [r.name for r in scheme.regions]
    categories = [c.name["es"] for c in scheme.categories]
    rng = random.Random(2020)
    start = date(2012, 1, 1)
    for i in range(count):
        first_ten = f"20{i // 3:08d}"
        ruc = first_ten + str(ruc_check_digit(first_ten))
        day = start + timedelta(days=rng.randrange(3000))
        yield [
            ruc,
            f"{i % 3:04d}",
            f"Empresa Turística {i} S.A.C.",
            f"Establecimiento {i}",
            categories[i % len(categories)],
            regions[i % len(regions)],
            "Provincia",
            "Distrito",
            f"Jr. Los Incas {i}",
            day.strftime("%d/%m/%Y"),
            f"MIN-{i:06d}" if i % 3 == 0 else "",
            f"contacto{i}@empresa.pe" if i % 2 == 0 else "",
        ]


def write_csv(path: Path, count: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, delimiter=";")
        writer.writerow(HEADER)
        writer.writerows(rows(count))


def write_xlsx(path: Path, count: int) -> None:
    # A normal workbook, as Excel and LibreOffice save them: text in the shared-strings table.
    # (openpyxl's write-only mode writes inline strings, which openpyxl reads four times slower.)
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    for row in rows(count):
        sheet.append(row)
    workbook.save(path)


def timed(label: str, func, results: list[str]):  # type: ignore[no-untyped-def]
    gc.collect()
    started = time.perf_counter()
    value = func()
    seconds = time.perf_counter() - started
    results.append(f"| {label} | {seconds:.1f} s |")
    print(results[-1], flush=True)
    return value


def run(base_url: str, name: str, files: dict[str, Path], results: list[str]) -> None:
    for kind, path in files.items():
        url = base_url
        if url.startswith("postgresql"):
            admin = create_engine(url)
            with admin.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
            admin.dispose()
        else:
            url = base_url.replace(".db", f"-{kind.lower()}.db")
        upgrade(url)
        engine = make_engine(url)
        with Session(engine) as session:
            preview = timed(
                f"{name}, {kind}: preview, empty register",
                lambda p=path, s=session: service.preview_file(db_session=s, path=p, filename="b"),
                results,
            )
            assert preview.counts["error"] == 0, preview.errors[:3]

            def apply(p: Path = path, s: Session = session) -> service.ImportResult:
                result = service.apply_file(db_session=s, path=p, filename="b", actor=None)
                s.commit()
                return result

            result = timed(
                f"{name}, {kind}: import (checks again, writes, commits)", apply, results
            )
            assert result.batch is not None and result.batch.created == preview.total
            again = timed(
                f"{name}, {kind}: preview of the same file again",
                lambda p=path, s=session: service.preview_file(db_session=s, path=p, filename="b"),
                results,
            )
            assert again.counts["unchanged"] == again.total
            timed(
                f"{name}, {kind}: import of the same file again (nothing to write)", apply, results
            )
    engine.dispose()


def peak_memory(url: str, path: Path) -> float:
    engine = make_engine(url)
    with Session(engine) as session:
        gc.collect()
        tracemalloc.start()
        service.preview_file(db_session=session, path=path, filename="b")
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    engine.dispose()
    return peak / 1_000_000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument(
        "--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/helper_b_bench"
    )
    args = parser.parse_args()
    results = ["| step | time |", "|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = {"CSV": folder / "signatories.csv", "XLSX": folder / "signatories.xlsx"}
        write_csv(files["CSV"], args.rows)
        write_xlsx(files["XLSX"], args.rows)
        print(
            f"{args.rows} rows: CSV {files['CSV'].stat().st_size / 1e6:.1f} MB, XLSX {files['XLSX'].stat().st_size / 1e6:.1f} MB"
        )
        run(f"sqlite:///{folder / 'bench.db'}", "SQLite", files, results)
        run(args.postgres, "PostgreSQL", files, results)
        memory = ["", "| preview of an empty register (SQLite) | peak Python memory |", "|---|---|"]
        empty = f"sqlite:///{folder / 'empty.db'}"
        upgrade(empty)
        big = folder / "big.csv"
        write_csv(big, args.rows * 4)
        for label, path in (
            (f"{args.rows} rows, CSV", files["CSV"]),
            (f"{args.rows * 4} rows, CSV", big),
            (f"{args.rows} rows, XLSX", files["XLSX"]),
        ):
            memory.append(f"| {label} | {peak_memory(empty, path):.1f} MB |")
            print(memory[-1], flush=True)
    print("\n".join(results + memory))


if __name__ == "__main__":
    main()
