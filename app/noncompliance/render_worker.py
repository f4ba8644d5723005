"""HTML to PDF for the non-compliance list, in a pool's worker process (or in the web process).

Deliberately tiny: a spawned worker imports this module (and `app`, `app.noncompliance`, whose
`__init__` must stay free of imports), so it loads WeasyPrint and nothing of the portal: about
half the memory of a worker that imports the app. The parent renders the HTML (Jinja, gettext)
and sends only the string.

The fonts and stylesheets are parsed once per process and reused by every document it renders.
WeasyPrint's font configuration is not meant to be shared between threads at once, so renders in
one process take turns (this matters in the web process only: a worker renders one at a time).
"""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path

from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration

PDF_BASE = Path(__file__).resolve().parent.parent.parent / "templates" / "pdf"
STYLESHEETS = ("fonts.css", "pdf.css", "noncompliance.css")
_lock = threading.Lock()


@cache
def _styles() -> tuple[FontConfiguration, list[CSS]]:
    fonts = FontConfiguration()
    return fonts, [CSS(filename=str(PDF_BASE / name), font_config=fonts) for name in STYLESHEETS]


def render(html: str) -> bytes:
    """One document of the list (a chunk of entries, or a run of page labels) as PDF."""
    with _lock:
        fonts, stylesheets = _styles()
        return HTML(string=html, base_url=str(PDF_BASE)).write_pdf(
            stylesheets=stylesheets, font_config=fonts
        )
