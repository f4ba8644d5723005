"""Bar charts as inline SVG, drawn on the server: readable without JavaScript, light on the wire.

Colours are SVG presentation attributes (the CSP forbids inline styles). Each colour carries white
text at 4.5:1 or more and stands out from the white page at 3:1 or more; the segments are
separated by a white gap, numbered, and named in the legend, and the page puts the same figures in
a table beside the chart, which is the accessible equivalent.
"""

from __future__ import annotations

from html import escape

from markupsafe import Markup

from app.dashboard.service import Counts, Figures
from app.i18n import _, lazy_gettext
from app.web import category_name, region_name

# The parts of a bar, left to right: (field of Counts, legend label, fill colour).
SEGMENTS = (
    ("approved", lazy_gettext("Approved"), "#00703c"),
    ("pending", lazy_gettext("Pending review"), "#1d70b8"),
    ("overdue", lazy_gettext("Overdue"), "#b25400"),
    ("non_compliant", lazy_gettext("Non-compliant"), "#8a1c13"),
    ("not_due", lazy_gettext("Not due yet"), "#505a5f"),
)
TEXT = "#0b0c0c"
WIDTH = 480  # scaled down on narrow screens (img, svg { max-width: 100% })
FONT = 16
BAR = 24  # bar height
ROW = FONT + 8 + BAR + 14  # a label line above its bar, then space
TOTAL_ROOM = 56  # right of the longest bar, for its total
DIGIT = 10  # a generous width of one digit at FONT, to decide whether a number fits its segment


def _text_width(text: str) -> int:
    """A rough width of `text` at FONT (an estimate: the server does not measure fonts)."""
    return int(len(text) * FONT * 0.6) + 1


def _attr(value: object) -> str:
    return escape(str(value), quote=True)


def stacked_bars(
    *, chart_id: str, title: str, description: str, rows: list[tuple[str, Counts]]
) -> Markup:
    """One horizontal bar per row, as long as its `must_file`, split by where the reports stand."""
    parts: list[str] = []
    y = _legend(parts)
    longest = max((counts.must_file for _label, counts in rows), default=0)
    scale = (WIDTH - TOTAL_ROOM) / longest if longest else 0.0
    for label, counts in rows:
        parts.append(
            f'<text x="0" y="{y + FONT}" font-size="{FONT}" font-weight="700" fill="{TEXT}">{escape(label)}</text>'
        )
        bar_y = y + FONT + 8
        x = 0.0
        for name, _legend_label, colour in SEGMENTS:
            value = getattr(counts, name)
            if not value:
                continue
            width = value * scale
            # A white gap between segments (2px) keeps neighbouring colours apart.
            drawn = max(width - 2, 1.0)
            parts.append(
                f'<rect x="{x:.1f}" y="{bar_y}" width="{drawn:.1f}" height="{BAR}" fill="{colour}"/>'
            )
            number = str(value)
            if drawn >= len(number) * DIGIT + 6:
                parts.append(
                    f'<text x="{x + drawn / 2:.1f}" y="{bar_y + BAR / 2 + FONT * 0.35:.1f}" '
                    f'font-size="{FONT}" text-anchor="middle" fill="#ffffff">{number}</text>'
                )
            x += width
        parts.append(
            f'<text x="{x + 6:.1f}" y="{bar_y + BAR / 2 + FONT * 0.35:.1f}" font-size="{FONT}" '
            f'fill="{TEXT}">{counts.must_file}</text>'
        )
        y += ROW
    height = y + 4
    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{_attr(chart_id)}" class="chart" role="img" '
        f'aria-labelledby="{_attr(title_id)} {_attr(desc_id)}" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" focusable="false">'
        f'<title id="{_attr(title_id)}">{escape(title)}</title>'
        f'<desc id="{_attr(desc_id)}">{escape(description)}</desc>' + "".join(parts) + "</svg>"
    )
    return Markup(svg)


def _legend(parts: list[str]) -> int:
    """Draw the legend at the top, wrapping to a new line when full; return where the bars start."""
    x, y = 0, 0
    for _name, label, colour in SEGMENTS:
        text = str(label)
        item = 16 + 6 + _text_width(text) + 18
        if x and x + item > WIDTH:
            x, y = 0, y + FONT + 10
        parts.append(f'<rect x="{x}" y="{y + 1}" width="16" height="16" fill="{colour}"/>')
        parts.append(
            f'<text x="{x + 22}" y="{y + FONT}" font-size="{FONT}" fill="{TEXT}">{escape(text)}</text>'
        )
        x += item
    return y + FONT + 10 + 14


def region_chart(figures: Figures) -> Markup:
    """Empty when no establishment must file: a chart of nothing but zeros says nothing."""
    rows = [(region_name(r.code), r.counts) for r in figures.regions if r.counts.must_file]
    if not rows:
        return Markup("")
    return stacked_bars(
        chart_id="chart-regions",
        title=_("Reports on %(year)s by region", year=figures.period.year),
        description=_description(
            _("one bar per region"),
            _("Regions where no establishment must file are left out; the table lists them."),
        ),
        rows=rows,
    )


def category_chart(figures: Figures) -> Markup:
    rows = [(category_name(c.code), c.counts) for c in figures.categories if c.counts.must_file]
    if not rows:
        return Markup("")
    return stacked_bars(
        chart_id="chart-categories",
        title=_("Reports on %(year)s by category", year=figures.period.year),
        description=_description(
            _("one bar per category"),
            _("Categories where no establishment must file are left out; the table lists them."),
        ),
        rows=rows,
    )


def _description(bars: str, left_out: str) -> str:
    return _(
        "Stacked bar chart, %(bars)s, as long as the number of establishments that must file, "
        "split into: %(parts)s. %(left_out)s The table below the chart gives the same figures.",
        bars=bars,
        parts=", ".join(str(label) for _name, label, _colour in SEGMENTS),
        left_out=left_out,
    )
