"""The signatory badge: an A5 sheet an establishment puts at its entrance, with a QR code that
opens its live page in the public register."""

from __future__ import annotations

import segno

from app import i18n
from app.conduct.pdf import render_pdf
from app.register.service import RegisterEntry


def public_url(base_url: str, entry_id: int) -> str:
    return f"{base_url.rstrip('/')}/register/{entry_id}"


def badge_pdf(*, entry: RegisterEntry, base_url: str) -> bytes:
    """Spanish first, with an English line for visitors; the QR code leads to the live standing."""
    url = public_url(base_url, entry.id)
    qr = segno.make(url, error="m").svg_data_uri(scale=4, border=4, dark="#1b1b1b")
    with i18n.use_locale("en"):
        english = i18n._("Signatory of the Code of Conduct")
    with i18n.use_locale("es"):
        return render_pdf(
            "pdf/badge.html", {"entry": entry, "url": url, "qr": qr, "english": english}
        )
