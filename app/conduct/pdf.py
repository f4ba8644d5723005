"""The PDF acknowledgement of a signature, showing the exact text that was signed."""

from __future__ import annotations

from weasyprint import HTML

from app import i18n
from app.conduct.models import CodeVersion, Signature
from app.config import ROOT
from app.establishments.models import Establishment
from app.jurisdiction import current_scheme
from app.web import templates

PDF_BASE = ROOT / "templates" / "pdf"


def render_pdf(template: str, context: dict[str, object]) -> bytes:
    """Render an HTML template to PDF; all text is escaped by the template engine."""
    html = templates.get_template(template).render(**context)
    return HTML(string=html, base_url=str(PDF_BASE)).write_pdf()


def acknowledgement_pdf(
    *, establishment: Establishment, signature: Signature, version: CodeVersion, locale: str
) -> bytes:
    scheme = current_scheme()
    with i18n.use_locale(locale):
        return render_pdf(
            "pdf/acknowledgement.html",
            {
                "establishment": establishment,
                "signature": signature,
                "version": version,
                "region": scheme.region(establishment.region),
                "category": scheme.category(establishment.category),
                "document_type": scheme.document_type(signature.document_type),
            },
        )
