"""The certificate PDF: A4, one page, bundled fonts, a QR code to the verification page.

Rendered in two layers (measured in bench/certificate_bench.py, README "Benchmarks"): WeasyPrint
lays out and draws the certificate's static part (frame, headings, the Code's wording, labels'
boxes, styling) once per language and per shape, leaving an empty slot of the right height for
each value; the values (names, RUC, address, dates, authority, verification address and code,
the QR code) are then set in those slots by app/certificates/overlay.py, in the same fonts.

"Per shape": a long name or address wraps to more lines and pushes what follows down, so the
static page is drawn for each combination of line counts that certificates need (most need the
same few), and kept per process. The line counts come from breaking each value to its slot's
width, read off a first layout of the page ("the probe").

Fonts and stylesheets are parsed once per process and reused. WeasyPrint's font configuration is
not meant to be shared between threads at once, so layouts in one process take turns.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import date
from functools import cache, lru_cache

import segno
from weasyprint import CSS, HTML, Document
from weasyprint.formatting_structure import boxes
from weasyprint.text.fonts import FontConfiguration

from app import i18n
from app.certificates import harfbuzz
from app.certificates.models import Certificate
from app.certificates.overlay import PX, Layer, Run, Slot, StaticPage, set_text
from app.conduct.models import Signature
from app.config import ROOT
from app.establishments.models import Establishment
from app.jurisdiction import current_scheme
from app.reports.models import ReportingPeriod
from app.web import date_long, templates

PDF_BASE = ROOT / "templates" / "pdf"
FACTS = (
    "ruc",
    "address",
    "region",
    "category",
    "signatory",
    "period",
    "approved",
    "issued",
    "valid_until",
    "issued_by",
)
#: Trade names longer than this are set smaller, to stay within a few lines.
LONG_NAME = 70
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


@cache
def _fonts() -> tuple[harfbuzz.Font, harfbuzz.Font]:
    """The regular and bold "Portal Sans" of fonts.css, for the values."""
    return (
        harfbuzz.font(PDF_BASE / "fonts" / "DejaVuSans.ttf"),
        harfbuzz.font(PDF_BASE / "fonts" / "DejaVuSans-Bold.ttf"),
    )


def grouped(code: str) -> str:
    """A verification code in groups of four, easier to read aloud and type."""
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))


def verification_url(base_url: str, code: str) -> str:
    return f"{base_url.rstrip('/')}/verify/{code}"


@dataclass(frozen=True)
class _StaticLayer:
    page: StaticPage
    slots: dict[str, Slot]


def _layout(
    locale: str, national_authority: str, long_name: bool, heights: dict[str, float]
) -> Document:
    """The static page laid out, with slots of the given heights (CSS px); a fact without a
    height is left out."""
    facts = FACTS if not heights else tuple(f for f in FACTS if heights.get(f))
    with i18n.use_locale(locale):
        html = templates.get_template("pdf/certificate.html").render(
            national_authority=national_authority,
            long_name=long_name,
            facts=facts,
            heights=heights,
        )
    styles = _styles("fonts.css", "certificate.css")
    with _lock:
        return HTML(string=html, base_url=str(PDF_BASE)).render(
            stylesheets=list(styles.stylesheets), font_config=styles.fonts
        )


def _slots(document: Document) -> dict[str, Slot]:
    """Each slot's box on the laid-out page, with the style its text is set in."""
    found: dict[str, Slot] = {}
    pending = [document.pages[0]._page_box]  # WeasyPrint's layout: the only way to read boxes
    while pending:
        box = pending.pop()
        pending.extend(reversed(getattr(box, "children", ())))
        element = getattr(box, "element", None)
        name = element.get("data-slot") if element is not None else None
        if not name or name in found or not isinstance(box, boxes.BlockBox):
            continue
        style = box.style
        size = style["font_size"] * PX
        line_height = style["line_height"]
        line_height = (
            line_height * size if isinstance(line_height, int | float) else line_height.value * PX
        )
        red, green, blue = style["color"].to("srgb").coordinates
        found[name] = Slot(
            left=box.content_box_x() * PX,
            top=box.content_box_y() * PX,
            width=box.width * PX,
            size=size,
            line_height=line_height,
            bold=style["font_weight"] >= 600,
            align="center" if style["text_align_all"] == "center" else "left",
            color=(red, green, blue),
        )
    return found


@lru_cache(maxsize=8)
def _probe(locale: str, national_authority: str, long_name: bool) -> dict[str, Slot]:
    """The slots' widths and styles, which do not depend on how many lines the values take."""
    return _slots(_layout(locale, national_authority, long_name, {}))


@lru_cache(maxsize=64)
def _static_layer(
    locale: str, national_authority: str, long_name: bool, lines: tuple[tuple[str, int], ...]
) -> _StaticLayer:
    """The static page for values taking these numbers of lines, drawn once."""
    probe = _probe(locale, national_authority, long_name)
    heights = {name: count * probe[name].line_height / PX for name, count in lines}
    document = _layout(locale, national_authority, long_name, heights)
    with _lock:
        pdf = document.write_pdf()
    return _StaticLayer(StaticPage(pdf), _slots(document))


def _fact(label: str, value: str, *, bold: bool = False) -> list[Run]:
    return [Run(f"{label}: ", bold=True), Run(value, bold=bold)]


def _values(
    *,
    certificate: Certificate,
    establishment: Establishment,
    signature: Signature | None,
    period: ReportingPeriod,
    approved_on: date | None,
    authority: str,
    url: str,
) -> dict[str, list[Run]]:
    """What each slot says, in the current locale."""
    _ = i18n._
    scheme = current_scheme()
    region = scheme.region(establishment.region)
    category = scheme.category(establishment.category)
    issued = date_long(certificate.issued_on)
    if certificate.revision > 1:
        reissue = _("re-issue %(n)s", n=certificate.revision)
        issued += f" ({reissue})"
    values = {
        "authority": [Run(authority)],
        "number": [Run(_("Certificate No.") + " "), Run(certificate.number, bold=True, size=12)],
        "name": [Run(establishment.trade_name)],
        "legal": [Run(" ".join((establishment.legal_name, "·", _("RUC"), establishment.ruc)))],
        "statement": [
            Run(
                _(
                    "signatory of the Code of Conduct, filed its annual report on how it cooperated with the Code in %(year)s, and the report was approved by the competent authority.",
                    year=period.year,
                )
            )
        ],
        "ruc": _fact(_("RUC and branch"), f"{establishment.ruc} – {establishment.branch_code}"),
        "address": _fact(
            _("Address"),
            f"{establishment.address}, {establishment.district}, {establishment.province}",
        ),
        "region": _fact(_("Region"), region.name if region else establishment.region),
        "category": _fact(
            _("Category"), i18n.localized(category.name) if category else establishment.category
        ),
        "signatory": _fact(_("Signatory number"), signature.signatory_number if signature else "—"),
        "period": _fact(_("Reporting period"), str(period.year)),
        "issued": _fact(_("Issued on"), issued),
        "valid_until": _fact(_("Valid until"), date_long(certificate.valid_until), bold=True),
        "issued_by": _fact(_("Issued by"), authority),
        "url": [Run(url)],
        "code": [
            Run(_("Verification code") + ": "),
            Run(grouped(certificate.code), bold=True, size=10),
        ],
    }
    if approved_on:
        values["approved"] = _fact(_("Report approved on"), date_long(approved_on))
    order = ("authority", "number", "name", "legal", "statement", *FACTS, "url", "code")
    return {name: values[name] for name in order if name in values}


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
    fonts = _fonts()
    with i18n.use_locale(locale):
        authority = scheme.authority(establishment.region, locale)
        national_authority = scheme.authority(None, locale)
        long_name = len(establishment.trade_name) > LONG_NAME
        values = _values(
            certificate=certificate,
            establishment=establishment,
            signature=signature,
            period=period,
            approved_on=approved_on,
            authority=authority,
            url=url,
        )
        title = " ".join((i18n._("Certificate of compliance"), certificate.number))
        subject = i18n._("Verification code") + f": {certificate.code}"
    probe = _probe(locale, national_authority, long_name)
    texts = {name: set_text(probe[name], runs, fonts) for name, runs in values.items()}
    lines = tuple((name, len(text.lines)) for name, text in texts.items())
    static = _static_layer(locale, national_authority, long_name, lines)
    layer = Layer(static.page.height, fonts)
    for name, text in texts.items():
        layer.text(replace(text, slot=static.slots[name]))
    qr = static.slots["qr"]
    layer.squares(qr.left, qr.top, qr.width, segno.make(url, error="m").matrix)
    return static.page.write(layer, {"Title": title, "Author": authority, "Subject": subject})
