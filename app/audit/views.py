"""The audit log for staff: a filtered, paginated page and the same entries as a CSV download."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from app.audit.models import AuditEntry
from app.audit.service import AuditFilter, iter_readable, readable_statement
from app.auth.dependencies import require
from app.auth.models import User
from app.auth.roles import Permission, has_permission
from app.auth.service import user_regions
from app.clock import LIMA, today
from app.db import DbSession
from app.i18n import _, lazy_gettext
from app.jurisdiction import current_scheme
from app.web import (
    FormState,
    form_state,
    max_length,
    render,
    single_line,
    spreadsheet_cell,
    template_filter,
)

router = APIRouter()
AuditReader = Annotated[User, Depends(require(Permission.READ_AUDIT))]
PER_PAGE = 50

#: What each recorded action means, in words; an action not listed here is shown as its code.
ACTIONS = {
    "report.assign": lazy_gettext("Report assigned to a reviewer"),
    "report.unassign": lazy_gettext("Report unassigned"),
    "report.approved": lazy_gettext("Report approved"),
    "report.changes_requested": lazy_gettext("Changes requested on a report"),
    "report.rejected": lazy_gettext("Report rejected"),
    "signature.suspend": lazy_gettext("Signature suspended"),
    "signature.reinstate": lazy_gettext("Signature reinstated"),
    "signature.revoke": lazy_gettext("Signature revoked"),
    "signature.withdraw": lazy_gettext("Signature withdrawn"),
    "period.create": lazy_gettext("Reporting period created"),
    "period.update": lazy_gettext("Reporting period changed"),
    "period.close": lazy_gettext("Reporting period closed"),
    "period.reopen": lazy_gettext("Reporting period reopened"),
    "user.create": lazy_gettext("Account created"),
    "user.update": lazy_gettext("Account changed"),
    "user.disable": lazy_gettext("Account disabled"),
    "user.enable": lazy_gettext("Account enabled"),
    "noncompliance.export": lazy_gettext("Non-compliance list produced (PDF or CSV)"),
}

CSV_COLUMNS = (
    "id",
    "at",
    "actor_email",
    "action",
    "object_type",
    "object_id",
    "region",
    "summary",
    "before",
    "after",
    "prev_hash",
    "hash",
)
CSV_BATCH = 200

_ISO_DATE = re.compile(r"((?:19|20|21)[0-9]{2})-([0-9]{2})-([0-9]{2})")


@template_filter("audit_action")
def audit_action(code: str) -> str:
    label = ACTIONS.get(code)
    return str(label) if label is not None else code


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


@dataclass
class Change:
    """One field of an entry's before/after, each side as compact JSON (None: absent on that side)."""

    name: str
    before: str | None
    after: str | None


@template_filter("audit_changes")
def audit_changes(entry: AuditEntry) -> list[Change]:
    before, after = entry.before or {}, entry.after or {}
    names = [*before, *(name for name in after if name not in before)]
    return [
        Change(
            name,
            _compact(before[name]) if name in before else None,
            _compact(after[name]) if name in after else None,
        )
        for name in names
    ]


# --- the filter form ------


def _day(value: str, message: str) -> date:
    match = _ISO_DATE.fullmatch(value)
    if not match:
        raise ValueError(message)
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        raise ValueError(message) from None


def _start_of(day: date) -> datetime:
    """Dates on the page are Peru's dates: a day starts at midnight in Lima."""
    return datetime.combine(day, time(), tzinfo=LIMA)


def read_filters(
    action: str, actor: str, region: str, object_type: str, date_from: str, date_to: str
) -> tuple[AuditFilter, FormState]:
    """The filters typed in the form, and one message per field that could not be read."""
    values = {
        "action": action,
        "actor": actor,
        "region": region,
        "object_type": object_type,
        "date_from": date_from,
        "date_to": date_to,
    }
    state = form_state({name: value.strip() for name, value in values.items()})
    checks = {
        "action": (40, _("Choose an action from the list")),
        "actor": (254, None),
        "region": (8, _("Choose a region from the list")),
        "object_type": (40, _("Choose a kind of record from the list")),
    }
    for name, (limit, message) in checks.items():
        try:
            single_line(max_length(state.value(name), limit))
        except ValueError as exc:
            state.add_error(name, message or str(exc))
    since = until = None
    example = today().isoformat()
    if state.value("date_from"):
        try:
            since = _day(
                state.value("date_from"),
                _("Enter the start date as YYYY-MM-DD, for example %(example)s", example=example),
            )
        except ValueError as exc:
            state.add_error("date_from", str(exc))
    if state.value("date_to"):
        try:
            until = _day(
                state.value("date_to"),
                _("Enter the end date as YYYY-MM-DD, for example %(example)s", example=example),
            )
        except ValueError as exc:
            state.add_error("date_to", str(exc))
    if since and until and until < since:
        state.add_error(
            "date_to", _("Enter an end date that is the same as or after the start date")
        )
    filters = AuditFilter(
        action=state.value("action"),
        actor=state.value("actor"),
        region=state.value("region"),
        object_type=state.value("object_type"),
        since=_start_of(since) if since else None,
        until=_start_of(until + timedelta(days=1)) if until else None,
    )
    return filters, state


def _present(db: Session, user: User, column: str) -> list[str]:
    """The distinct values of a column among the entries this person may read (for the selects)."""
    readable = readable_statement(user, AuditFilter()).order_by(None).subquery()
    values = select(readable.c[column]).distinct().order_by(readable.c[column])
    return [value for value in db.scalars(values) if value]


def _region_options(db: Session, user: User) -> list[tuple[str, str]]:
    scheme = current_scheme()
    if has_permission(user.role, Permission.VIEW_ALL_ESTABLISHMENTS):
        return [(r.code, r.name) for r in scheme.regions]
    return [
        (code, region.name if (region := scheme.region(code)) else code)
        for code in user_regions(db_session=db, user=user)
    ]


# --- pages ------


FilterQuery = Annotated[str, Query()]


@router.get("/audit")
def audit_log(
    request: Request,
    db: DbSession,
    user: AuditReader,
    action: FilterQuery = "",
    actor: FilterQuery = "",
    region: FilterQuery = "",
    object_type: FilterQuery = "",
    date_from: FilterQuery = "",
    date_to: FilterQuery = "",
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
) -> HTMLResponse:
    filters, form = read_filters(action, actor, region, object_type, date_from, date_to)
    return _log_page(request, db, user, filters, form, page)


@router.get("/audit.csv", response_model=None)
def audit_csv(
    request: Request,
    db: DbSession,
    user: AuditReader,
    action: FilterQuery = "",
    actor: FilterQuery = "",
    region: FilterQuery = "",
    object_type: FilterQuery = "",
    date_from: FilterQuery = "",
    date_to: FilterQuery = "",
) -> Response:
    filters, form = read_filters(action, actor, region, object_type, date_from, date_to)
    if form.has_errors:
        return _log_page(request, db, user, filters, form, page=1)
    # The request's session is closed when this function returns, before the rows are sent.
    return StreamingResponse(
        _csv_rows(request.app.state.engine, user, filters),
        media_type="text/csv; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="audit-log-{today().isoformat()}.csv"',
            "cache-control": "no-store",
        },
    )


def _log_page(
    request: Request, db: Session, user: User, filters: AuditFilter, form: FormState, page: int
) -> HTMLResponse:
    """The page of entries; with a filter that could not be read, the form and its errors only."""
    entries: list[AuditEntry] = []
    total = pages = 0
    if not form.has_errors:
        statement = readable_statement(user, filters)
        total = (
            db.scalar(select(func.count()).select_from(statement.order_by(None).subquery())) or 0
        )
        pages = max(1, math.ceil(total / PER_PAGE))
        page = min(page, pages)
        entries = list(db.scalars(statement.limit(PER_PAGE).offset((page - 1) * PER_PAGE)))
    filter_params = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]
    return render(
        request,
        "audit/log.html",
        {
            "form": form,
            "entries": entries,
            "total": total,
            "page": page,
            "pages": pages,
            "actions": [(code, audit_action(code)) for code in _present(db, user, "action")],
            "object_types": [(code, code) for code in _present(db, user, "object_type")],
            "regions": _region_options(db, user),
            "csv_url": "/audit.csv" + ("?" + urlencode(filter_params) if filter_params else ""),
        },
        status_code=400 if form.has_errors else 200,
    )


def _csv_rows(engine: Engine, user: User, filters: AuditFilter) -> Iterator[bytes]:
    """UTF-8 with a byte order mark (so Excel reads accents), sent in batches as they are read."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    out.write("\ufeff")
    writer.writerow(CSV_COLUMNS)
    with Session(engine) as session:
        for count, entry in enumerate(
            iter_readable(db_session=session, user=user, filters=filters), start=1
        ):
            row = [
                entry.id,
                entry.at.isoformat(),
                entry.actor_email,
                entry.action,
                entry.object_type,
                entry.object_id,
                entry.region or "",
                entry.summary,
                "" if entry.before is None else _compact(entry.before),
                "" if entry.after is None else _compact(entry.after),
                entry.prev_hash,
                entry.hash,
            ]
            # Summaries carry names operators typed: a spreadsheet must show them, never run them.
            writer.writerow([spreadsheet_cell(value) for value in row])
            if count % CSV_BATCH == 0:
                yield out.getvalue().encode("utf-8")
                out.seek(0)
                out.truncate()
    yield out.getvalue().encode("utf-8")
