"""Bar charts of the public statistics, as inline SVG drawn on the server.

A chart shows exactly the published cells of its table: a hidden count ("<5", or "x" for one
hidden to protect another) is written as that text with no bar, because a bar's length would
give the number away. Colours and sizes follow app/dashboard/charts.py.
"""

from __future__ import annotations

from html import escape

from markupsafe import Markup

from app.i18n import _
from app.opendata.statistics import Line, View
from app.opendata.suppression import Published
from app.web import category_name, region_name

FILL = "#1d70b8"  # white text on it 5.2:1, against the white page 5.2:1
TEXT = "#0b0c0c"
WIDTH = 480  # scaled down on narrow screens (svg { max-width: 100% })
FONT = 16
BAR = 20
ROW = FONT + 6 + BAR + 12  # a label line above its bar, then space
VALUE_ROOM = 48  # right of the longest bar, for its number


def bars(
    *, chart_id: str, title: str, description: str, rows: list[tuple[str, Published]]
) -> Markup:
    """One horizontal bar per row, as long as its number; hidden numbers as text, without a bar."""
    shown = [v for _label, v in rows if isinstance(v, int)]
    longest = max(shown, default=0)
    scale = (WIDTH - VALUE_ROOM) / longest if longest else 0.0
    parts: list[str] = []
    y = 0
    for label, value in rows:
        parts.append(
            f'<text x="0" y="{y + FONT}" font-size="{FONT}" fill="{TEXT}">{escape(label)}</text>'
        )
        bar_y = y + FONT + 6
        width = value * scale if isinstance(value, int) else 0.0
        if width:
            parts.append(
                f'<rect x="0" y="{bar_y}" width="{max(width, 1.0):.1f}" height="{BAR}" fill="{FILL}"/>'
            )
        parts.append(
            f'<text x="{width + 6:.1f}" y="{bar_y + BAR / 2 + FONT * 0.35:.1f}" font-size="{FONT}" '
            f'font-weight="700" fill="{TEXT}">{escape(str(value))}</text>'
        )
        y += ROW
    height = y + 2
    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{chart_id}" class="chart" role="img" '
        f'aria-labelledby="{title_id} {desc_id}" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" focusable="false">'
        f'<title id="{title_id}">{escape(title)}</title>'
        f'<desc id="{desc_id}">{escape(description)}</desc>' + "".join(parts) + "</svg>"
    )


def _rows(lines: list[Line], measure: str, name) -> list[tuple[str, Published]]:  # type: ignore[no-untyped-def]
    """Lines with something to show: a bar of 0 says nothing, and the table lists them anyway."""
    return [(name(line.code), line.values[measure]) for line in lines if line.values[measure] != 0]


def charts(view: View) -> dict[str, Markup]:
    """The charts of a statistics page: signatories by region and by category, cases by region."""
    year = view.statistics.period.year
    left_out = _("Rows with no count are left out; the table below gives every figure.")
    hidden = _('"<5" is a count from 1 to 4; "x" is hidden so that another cannot be worked out.')
    specs = [
        ("regions", "signatories", view.by_region, region_name,
         _("Signatories obliged to report on %(year)s, by region", year=year)),
        ("categories", "signatories", view.by_category, category_name,
         _("Signatories obliged to report on %(year)s, by category", year=year)),
        ("cases", "cases_detected", view.by_region, region_name,
         _("Suspected cases detected in %(year)s (approved reports), by region", year=year)),
    ]  # fmt: skip
    result = {}
    for key, measure, lines, name, title in specs:
        rows = _rows(lines, measure, name)
        if rows:
            description = _("Horizontal bar chart, one bar per row.") + f" {left_out} {hidden}"
            result[key] = bars(
                chart_id=f"chart-{key}", title=title, description=description, rows=rows
            )
    return result
