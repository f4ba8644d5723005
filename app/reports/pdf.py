"""The receipt of a filed report: a PDF copy of exactly what was filed, with its time and SHA-256."""

from __future__ import annotations

from app import i18n
from app.conduct.pdf import render_pdf
from app.jurisdiction import current_scheme
from app.reports import labels  # noqa: F401  (template filters the receipt uses)
from app.reports.form import ReportFormDefinition
from app.reports.models import ReportSubmission


def definition_for(version: str) -> ReportFormDefinition:
    """The form a submission was filed with (forms are data; a version never changes)."""
    for content in current_scheme().report_forms:
        if content["version"] == version:
            return ReportFormDefinition(content)
    raise LookupError(f"report form {version} is not in the data set")


def receipt_pdf(*, submission: ReportSubmission, locale: str) -> bytes:
    content = submission.content
    definition = definition_for(content["form_version"])
    scheme = current_scheme()
    with i18n.use_locale(locale):
        return render_pdf(
            "pdf/receipt.html",
            {
                "submission": submission,
                "filed": content,
                "sections": definition.sections_for(content["establishment"]["category"]),
                "category": scheme.category(content["establishment"]["category"]),
                "region": scheme.region(content["establishment"]["region"]),
            },
        )
