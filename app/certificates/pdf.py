"""The certificate PDF: A4, one page, bundled fonts, a QR code to the verification page.

Fonts and stylesheets are parsed once per process and reused: rebuilding them costs about a third
of a render. WeasyPrint's font configuration is not meant to be shared between threads at once,
so renders in one process take turns.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date
from functools import cache

import segno
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration

from app import i18n
from app.certificates.models import Certificate
from app.conduct.models import Signature
from app.config import ROOT
from app.establishments.models import Establishment
from app.jurisdiction import current_scheme
from app.reports.models import ReportingPeriod
from app.web import templates

PDF_BASE = ROOT / "templates" / "pdf"
_lock = threading.Lock()


@dataclass(frozen=True)
class _Styles:
    fonts: FontConfiguration
    stylesheets: tuple[CSS, ...]


@cache
def _styles(*names: str) -> _Styles:
    fonts = FontConfiguration()
    sheets = tuple(CSS(filename=str(PDF_BASE / name), font_config=fonts) for name in names)
    return _Styles(fonts, sheets)


def render_html(html: str, *stylesheets: str) -> bytes:
    """An HTML document to PDF with the bundled fonts and the given stylesheets (parsed once)."""
    styles = _styles("fonts.css", *stylesheets)
    with _lock:
        return HTML(string=html, base_url=str(PDF_BASE)).write_pdf(
            stylesheets=list(styles.stylesheets), font_config=styles.fonts
        )


def qr_data_uri(url: str) -> str:
    """The QR code of a URL as a PNG data URI: 5 pixels a module, sharp at the printed 30 mm
    (an SVG code costs WeasyPrint several times more to draw)."""
    return segno.make(url, error="m").png_data_uri(scale=5, border=0, dark="#000")


def grouped(code: str) -> str:
    """A verification code in groups of four, easier to read aloud and type."""
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))


def verification_url(base_url: str, code: str) -> str:
    return f"{base_url.rstrip('/')}/verify/{code}"


def certificate_pdf(
    *,
    certificate: Certificate,
    establishment: Establishment,
    signature: Signature | None,
    period: ReportingPeriod,
    approved_on: date | None,
    base_url: str,
    locale: str,
) -> bytes:
    scheme = current_scheme()
    url = verification_url(base_url, certificate.code)
    with i18n.use_locale(locale):
        html = templates.get_template("pdf/certificate.html").render(
            certificate=certificate,
            establishment=establishment,
            signature=signature,
            period=period,
            approved_on=approved_on,
            region=scheme.region(establishment.region),
            category=scheme.category(establishment.category),
            authority=scheme.authority(establishment.region, locale),
            national_authority=scheme.authority(None, locale),
            verification_url=url,
            code=grouped(certificate.code),
            qr=qr_data_uri(url),
        )
        return render_html(html, "certificate.css")
