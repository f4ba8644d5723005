"""The dashboard table as a download: CSV and XLSX, with the same rows and columns as the page."""

from __future__ import annotations

import csv
import io

from openpyxl import Workbook
from openpyxl.styles import Font

from app.dashboard.service import COLUMNS, Counts, Figures
from app.i18n import _
from app.web import category_name, region_name, spreadsheet_cell

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def header() -> list[str]:
    return [_("Breakdown"), _("Code"), _("Name"), *(str(label) for _name, label in COLUMNS)]


def table(figures: Figures) -> list[list[str | int]]:
    """One row per region, one per category, then the total, in the language of the request."""

    def line(breakdown: str, code: str, name: str, counts: Counts) -> list[str | int]:
        return [breakdown, code, name, *(getattr(counts, field) for field, _label in COLUMNS)]

    return [
        *(line(_("Region"), r.code, region_name(r.code), r.counts) for r in figures.regions),
        *(line(_("Category"), c.code, category_name(c.code), c.counts) for c in figures.categories),
        line(_("Total"), "", "", figures.total),
    ]


def filename(figures: Figures, extension: str) -> str:
    """dashboard-2025-PE-CUS.csv, or dashboard-2025-all-regions.csv: ASCII, safe in a header."""
    return f"dashboard-{figures.period.year}-{figures.region or 'all-regions'}.{extension}"


def to_csv(figures: Figures) -> bytes:
    """UTF-8 with a byte order mark, so that Excel shows the accents of region names right."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([spreadsheet_cell(cell) for cell in header()])
    writer.writerows([spreadsheet_cell(cell) for cell in row] for row in table(figures))
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(figures: Figures) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = str(figures.period.year)
    sheet.append(header())
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in table(figures):
        sheet.append(row)
    sheet.freeze_panes = "A2"
    widths = [14, 10, 38] + [16] * len(COLUMNS)
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[sheet.cell(row=1, column=index).column_letter].width = width
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
