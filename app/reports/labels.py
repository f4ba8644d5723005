"""How report values read on pages, mails and PDFs (registered as template filters)."""

from __future__ import annotations

from datetime import date
from typing import Any

from babel.numbers import format_decimal

from app import i18n
from app.i18n import _, lazy_gettext
from app.reports.form import Figure
from app.web import date_long, template_filter

_STATUS = {
    "done": lazy_gettext("Done"),
    "partly": lazy_gettext("Partly done"),
    "not_done": lazy_gettext("Not done"),
}
_STATE = {
    "not_started": lazy_gettext("Not started"),
    "draft": lazy_gettext("Draft"),
    "submitted": lazy_gettext("Filed, waiting for review"),
    "changes_requested": lazy_gettext("Changes requested"),
    "resubmitted": lazy_gettext("Filed again, waiting for review"),
    "approved": lazy_gettext("Approved"),
    "rejected": lazy_gettext("Rejected"),
}
STATE_TAGS = {
    "not_started": "neutral",
    "draft": "neutral",
    "submitted": "pending",
    "changes_requested": "overdue",
    "resubmitted": "pending",
    "approved": "good",
    "rejected": "noncompliant",
}
_PERIOD_STATE = {
    "upcoming": lazy_gettext("Not open yet"),
    "open": lazy_gettext("Open"),
    "late": lazy_gettext("Deadline passed (late filings accepted)"),
    "closed": lazy_gettext("Closed"),
}


@template_filter("report_status")
def report_status(value: str) -> str:
    return str(_STATUS.get(value, value))


@template_filter("report_state")
def report_state(value: str) -> str:
    return str(_STATE.get(value, value))


@template_filter("report_state_tag")
def report_state_tag(value: str) -> str:
    return STATE_TAGS.get(value, "neutral")


@template_filter("period_state_label")
def period_state_label(value: str) -> str:
    return str(_PERIOD_STATE.get(value, value))


@template_filter("figure_value")
def figure_value(value: Any, figure: Figure) -> str:
    if value is None or value == "":
        return _("Not answered")
    if figure.type == "boolean":
        return _("Yes") if value else _("No")
    if figure.type == "date":
        return date_long(date.fromisoformat(value))
    if figure.type in ("integer", "decimal"):
        return format_decimal(value, locale=i18n.get_locale())
    return str(value)


@template_filter("filesize")
def filesize(size: int) -> str:
    if size < 1_000_000:
        return _("%(n)s KB", n=format_decimal(max(1, round(size / 1000)), locale=i18n.get_locale()))
    return _("%(n)s MB", n=format_decimal(round(size / 1_000_000, 1), locale=i18n.get_locale()))
