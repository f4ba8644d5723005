"""Certificate rendering against WeasyPrint's floor, measured side by side in one run.

    .venv/bin/python bench/certificate_bench.py [--runs 30]

Prints CPU milliseconds per document (median of the runs; CPU time of this process, so that
other work on the machine does not distort the comparison) for:
  bare        a one-page A4 document with the same bundled fonts, fonts and CSS reused (the floor)
  bare_cold   the same bare document with fonts and CSS parsed for each render (a plain
              WeasyPrint call)
  certificate the real certificate (QR code included) as the portal renders it: the static layer of
              its language and shape already drawn (kept per process), the values set over it
  first       the same certificate when its static layer is not drawn yet (a shape this process
              has not seen): WeasyPrint's layout of the page, twice (the probe that gives the slots'
              widths, then the page), its drawing, and splitting it into PDF objects; once per
              language and shape, then every certificate of that shape costs `certificate`
  cold        `first` with fonts and CSS parsed again too (the first certificate of a process)
  signing     the PAdES signature added with pyHanko
  stored      reading an issued certificate back from storage (what every later download costs)
and the ratio certificate / bare (target: at most 1.5), with the load average (the machine may be
shared: CPU time medians are what to compare).
"""

from __future__ import annotations

import argparse
import io
import itertools
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from weasyprint import CSS, HTML  # noqa: E402
from weasyprint.text.fonts import FontConfiguration  # noqa: E402

from app.certificates import pdf as certificate_pdf_module  # noqa: E402
from app.certificates.models import Certificate  # noqa: E402
from app.certificates.pdf import PDF_BASE, certificate_pdf  # noqa: E402
from app.certificates.signing import create_dev_keys, sign_pdf  # noqa: E402
from app.conduct.models import Signature  # noqa: E402
from app.config import Settings  # noqa: E402
from app.establishments.models import Establishment  # noqa: E402
from app.reports.models import ReportingPeriod  # noqa: E402
from app.storage import LocalStorage  # noqa: E402

CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32, as the portal's codes
BARE = """<!DOCTYPE html><html lang="es"><head><meta charset="utf-8"><title>A4</title></head>
<body><h1>Certificado</h1><p>Una página A4 con las mismas fuentes.</p></body></html>"""
BARE_CSS = '@page { size: A4; margin: 12mm; } html { font-family: "Portal Sans"; }'


def timed(functions: dict[str, Callable[[], object]], runs: int) -> dict[str, float]:
    """Median CPU ms of each function, the functions taking turns in every round: on a shared
    machine, a burst of other work then weighs on all of them alike, not on one."""
    for function in functions.values():
        function()  # warm up: first use loads fonts and templates
    samples: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(runs):
        for name, function in functions.items():
            start = time.process_time()
            function()
            samples[name].append((time.process_time() - start) * 1000)
    return {name: statistics.median(values) for name, values in samples.items()}


def sample_certificate() -> dict[str, object]:
    establishment = Establishment(
        id=4821,
        ruc="20604123452",
        branch_code="0001",
        trade_name="Hostal Ñusta Wasi",
        legal_name="Inversiones Turísticas Ñusta S.A.C.",
        category="lodging",
        region="PE-CUS",
        province="Urubamba",
        district="Ollantaytambo",
        address="Calle Principal 123",
    )
    certificate = Certificate(
        number="CERT-2025-004821",
        code="7K3M9QXD2B5F8HJN4P6R1T0VWXYZABCD"[:32],
        establishment_id=4821,
        period_id=1,
        report_id=1,
        issued_on=date(2026, 4, 30),
        valid_until=date(2027, 3, 31),
        pdf_es_key="",
        pdf_es_sha256="",
    )
    period = ReportingPeriod(
        year=2025,
        opens_on=date(2026, 1, 1),
        deadline=date(2026, 3, 31),
        cutoff_on=date(2025, 12, 31),
        report_form_id=1,
    )
    signature = Signature(
        establishment_id=4821,
        code_version_id=1,
        signatory_number="CC-2024-000815",
        representative_name="-",
        document_type="DNI",
        document_number="-",
        signed_at=datetime(2024, 5, 2, 15, tzinfo=UTC),
    )
    return {
        "certificate": certificate,
        "establishment": establishment,
        "signature": signature,
        "period": period,
        "approved_on": date(2026, 4, 28),
        "base_url": "https://codigodeconducta.mincetur.gob.pe",
        "locale": "es",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    runs = parser.parse_args().runs

    fonts = FontConfiguration()
    sheets = [
        CSS(filename=str(PDF_BASE / "fonts.css"), font_config=fonts),
        CSS(string=BARE_CSS, font_config=fonts),
    ]

    def bare() -> bytes:
        return HTML(string=BARE, base_url=str(PDF_BASE)).write_pdf(
            stylesheets=sheets, font_config=fonts
        )

    def bare_cold() -> bytes:
        cold_fonts = FontConfiguration()
        cold_sheets = [
            CSS(filename=str(PDF_BASE / "fonts.css"), font_config=cold_fonts),
            CSS(string=BARE_CSS, font_config=cold_fonts),
        ]
        return HTML(string=BARE, base_url=str(PDF_BASE)).write_pdf(
            stylesheets=cold_sheets, font_config=cold_fonts
        )

    context = sample_certificate()
    serial = itertools.count(1)

    def certificate() -> bytes:
        # Each render is another certificate (number, code, name, address, dates), as in a batch:
        # nothing kept from one value helps the next. The shape (line counts) stays the same.
        n = next(serial)
        context["certificate"].number = f"CERT-2025-{n:06d}"
        context["certificate"].code = "".join(random.choices(CODE_ALPHABET, k=32))
        context["certificate"].issued_on = date(2026, 4, 30) + timedelta(days=n % 200)
        context["establishment"].trade_name = f"Hostal Ñusta Wasi {n}"
        context["establishment"].address = f"Calle Principal {n}"
        return certificate_pdf(**context)  # type: ignore[arg-type]

    def first() -> bytes:
        certificate_pdf_module._probe.cache_clear()
        certificate_pdf_module._static_layer.cache_clear()
        return certificate()

    def cold() -> bytes:
        certificate_pdf_module._styles.cache_clear()
        return first()

    with tempfile.TemporaryDirectory() as tmp:
        key, cert = create_dev_keys(Path(tmp) / "keys", "bench")
        settings = Settings(environment="test", signing_key_file=key, signing_cert_file=cert)
        rendered = certificate()
        storage = LocalStorage(Path(tmp) / "store")
        storage_key = storage.new_key()
        storage.save(storage_key, io.BytesIO(rendered))

        results = timed(
            {
                "bare": bare,
                "bare_cold": bare_cold,
                "certificate": certificate,
                "signing": lambda: sign_pdf(rendered, settings, reason="bench", location="Cusco"),
                "stored": lambda: b"".join(storage.read(storage_key)),
            },
            runs,
        )
        results.update(timed({"first": first, "cold": cold}, max(5, runs // 3)))
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    for name, value in results.items():
        print(f"{name:12s} {value:8.2f} ms")
    print(f"ratio certificate/bare: {results['certificate'] / results['bare']:.2f} (target <= 1.5)")
    print(f"ratio certificate/bare_cold: {results['certificate'] / results['bare_cold']:.2f}")
    print(
        f"ratio first/bare: {results['first'] / results['bare']:.2f} (once per language and shape)"
    )
    print(
        f"ratio stored/certificate+signing: {results['stored'] / (results['certificate'] + results['signing']):.4f}"
    )


if __name__ == "__main__":
    main()
