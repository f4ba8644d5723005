"""Reviewers' non-compliance list: the page (filters, totals, a paginated table), the PDF for the
official file and the CSV. Producing a PDF or a CSV is recorded in the audit log."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from sqlalchemy import Engine
from sqlmodel import Session

from app import i18n
from app.audit import service as audit
from app.auth.dependencies import require
from app.auth.models import User
from app.auth.roles import Permission, has_permission
from app.auth.service import user_regions
from app.clock import today
from app.dashboard.service import regions_in_scope
from app.db import DbSession, utcnow
from app.i18n import _, ngettext
from app.jurisdiction import current_scheme
from app.noncompliance import pdf, service
from app.noncompliance.service import REASONS, ListFilter, ListNotReady, Totals
from app.reports.models import ReportingPeriod
from app.reports.service import grace_ends_on, list_periods
from app.web import (
    FormState,
    category_name,
    datetime_local,
    form_state,
    region_name,
    render,
    spreadsheet_cell,
    template_filter,
)

router = APIRouter()
template_filter("noncompliance_reason")(service.reason_label)
template_filter("noncompliance_signature_status")(service.signature_status_label)
Reviewer = Annotated[User, Depends(require(Permission.REVIEW_REPORTS))]
Param = Annotated[str, Query(max_length=40)]
PER_PAGE = 50
CSV_BATCH = 200


@dataclass
class AskedList:
    """The list asked for: the period, the filters, and what to show on the form."""

    period: ReportingPeriod | None
    filters: ListFilter
    form: FormState
    periods: list[ReportingPeriod]
    scope: list[str]


def _default_period(periods: list[ReportingPeriod]) -> ReportingPeriod | None:
    """The latest period whose list can be produced, else the latest period."""
    ready = [p for p in periods if service.available_from(p) <= today()]
    return (ready or periods or [None])[0]


def _read(
    db: Session, user: User, period: str, region: str, category: str, reason: str
) -> AskedList:
    """The filters from the query string, one message per value that is not on the lists."""
    periods = list_periods(db_session=db)
    scope = regions_in_scope(db_session=db, user=user)
    values = {
        "period": period.strip(),
        "region": region.strip(),
        "category": category.strip(),
        "reason": reason.strip(),
    }
    form = form_state(values)
    chosen: ReportingPeriod | None
    if values["period"]:
        chosen = next((p for p in periods if str(p.year) == values["period"]), None)
        if chosen is None:
            form.add_error("period", _("Choose a reporting period from the list"))
    else:
        chosen = _default_period(periods)
        if chosen is not None:
            form.values["period"] = str(chosen.year)
    if values["region"] and values["region"] not in scope:
        form.add_error("region", _("Choose a region from the list"))
    if values["category"] and current_scheme().category(values["category"]) is None:
        form.add_error("category", _("Choose a category from the list"))
    if values["reason"] and values["reason"] not in REASONS:
        form.add_error("reason", _("Choose a reason from the list"))
    filters = ListFilter(
        region=values["region"] if "region" not in form.errors else "",
        category=values["category"] if "category" not in form.errors else "",
        reason=values["reason"] if "reason" not in form.errors else "",
    )
    return AskedList(chosen, filters, form, periods, scope)


def _query(asked: AskedList) -> str:
    assert asked.period is not None
    params = {"period": str(asked.period.year)}
    params.update(
        {k: v for k, v in vars(asked.filters).items() if v}  # region, category, reason
    )
    return urlencode(params)


def _all_regions(user: User) -> str:
    if has_permission(user.role, Permission.VIEW_ALL_ESTABLISHMENTS):
        return _("All regions")
    return _("All my regions")


def _page(
    request: Request,
    db: Session,
    user: User,
    asked: AskedList,
    page: int = 1,
    status_code: int = 200,
) -> HTMLResponse:
    context: dict[str, Any] = {
        "form": asked.form,
        "period": asked.period,
        "year_options": [(str(p.year), _("Report %(year)s", year=p.year)) for p in asked.periods],
        "region_options": [(code, region_name(code)) for code in asked.scope],
        "all_regions": _all_regions(user),
        "category_options": [(c.code, i18n.localized(c.name)) for c in current_scheme().categories],
        "reason_options": [(code, service.reason_label(code)) for code in REASONS],
        "not_ready": None,
        "today": today(),
        "rows": [],
        "totals": None,
    }
    if asked.period is not None and not asked.form.has_errors:
        try:
            service.check_ready(asked.period)
        except ListNotReady as exc:
            context["not_ready"] = exc.message
        else:
            totals = service.totals(
                db_session=db, user=user, period=asked.period, filters=asked.filters
            )
            pages = max(1, math.ceil(totals.listed / PER_PAGE))
            page = min(page, pages)
            context.update(
                totals=totals,
                rows=service.page_of_rows(
                    db_session=db,
                    user=user,
                    period=asked.period,
                    filters=asked.filters,
                    offset=(page - 1) * PER_PAGE,
                    limit=PER_PAGE,
                ),
                page=page,
                pages=pages,
                grace_ends_on=grace_ends_on(asked.period),
                query=_query(asked),
            )
    return render(request, "noncompliance/list.html", context, status_code=status_code)


@router.get("/review/noncompliance")
def noncompliance_list(
    request: Request,
    db: DbSession,
    user: Reviewer,
    period: Param = "",
    region: Param = "",
    category: Param = "",
    reason: Param = "",
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
) -> HTMLResponse:
    """Establishments that had to file for a period and have no approved report."""
    asked = _read(db, user, period, region, category, reason)
    return _page(request, db, user, asked, page, 400 if asked.form.has_errors else 200)


def _ready_for_export(
    request: Request, db: Session, user: User, asked: AskedList
) -> HTMLResponse | None:
    """The page with its message when no file can be made (bad filter, no period, grace not over)."""
    if asked.form.has_errors:
        return _page(request, db, user, asked, status_code=400)
    if asked.period is None:
        return _page(request, db, user, asked, status_code=404)
    try:
        service.check_ready(asked.period)
    except ListNotReady:
        return _page(request, db, user, asked, status_code=409)
    return None


def _filename(asked: AskedList, extension: str) -> str:
    """noncompliance-2024-PE-CUS.pdf: ASCII only, safe in a header."""
    assert asked.period is not None
    parts = ["noncompliance", str(asked.period.year)]
    parts += [v for v in (asked.filters.region, asked.filters.category, asked.filters.reason) if v]
    return "-".join(parts) + "." + extension


def _record_export(db: Session, user: User, asked: AskedList, file_format: str, rows: int) -> None:
    assert asked.period is not None
    audit.record(
        db_session=db,
        actor=user,
        action="noncompliance.export",
        object_type="reporting_period",
        object_id=asked.period.id,
        region=asked.filters.region or None,
        summary=f"Non-compliance list {asked.period.year} ({file_format.upper()}, {rows} rows)",
        after={
            "format": file_format,
            "year": asked.period.year,
            "region": asked.filters.region or None,
            "category": asked.filters.category or None,
            "reason": asked.filters.reason or None,
            "rows": rows,
        },
    )


def _filter_facts(user: User, filters: ListFilter) -> list[tuple[str, str]]:
    return [
        (_("Region"), region_name(filters.region) if filters.region else _all_regions(user)),
        (
            _("Category"),
            category_name(filters.category) if filters.category else _("All categories"),
        ),
        (
            _("Reason"),
            service.reason_label(filters.reason) if filters.reason else _("All reasons"),
        ),
    ]


def _heading(db: Session, user: User, asked: AskedList, totals: Totals) -> pdf.Heading:
    period = asked.period
    assert period is not None
    produced = datetime_local(utcnow())
    directorate = ""
    if not has_permission(user.role, Permission.VIEW_ALL_ESTABLISHMENTS):
        names = ", ".join(region_name(c) for c in user_regions(db_session=db, user=user))
        directorate = _(
            "Regional directorate of foreign trade and tourism: %(regions)s", regions=names
        )
    title = _("Non-compliance list: report on %(year)s", year=period.year)
    notes = [
        _(
            "Listed: every establishment that had to file (a signatory on the cut-off date) and "
            "has no approved report. Days overdue are counted from the deadline to %(today)s.",
            today=today().isoformat(),
        )
    ]
    if totals.pending_review:
        notes.append(
            ngettext(
                "%(num)s report filed and waiting for a reviewer's decision is not listed.",
                "%(num)s reports filed and waiting for a reviewer's decision are not listed.",
                totals.pending_review,
            )
            % {"num": totals.pending_review}
        )
    return pdf.Heading(
        issuer=_("Republic of Peru · Ministry of Foreign Trade and Tourism"),
        directorate=directorate,
        title=title,
        running_title=f"{title} · {produced}",
        facts=(
            (_("Deadline"), period.deadline.isoformat()),
            (_("Grace period ended on"), grace_ends_on(period).isoformat()),
            (_("Cut-off date"), period.cutoff_on.isoformat()),
            *_filter_facts(user, asked.filters),
            (_("Produced on"), produced),
            (_("Produced by"), user.email),
        ),
        totals=(
            *((service.reason_label(code), totals.by_reason[code]) for code in REASONS),
            (_("Total listed"), totals.listed),
        ),
        notes=tuple(notes),
    )


@router.get("/review/noncompliance.pdf", response_model=None)
def noncompliance_pdf(
    request: Request,
    db: DbSession,
    user: Reviewer,
    period: Param = "",
    region: Param = "",
    category: Param = "",
    reason: Param = "",
) -> Response:
    asked = _read(db, user, period, region, category, reason)
    refused = _ready_for_export(request, db, user, asked)
    if refused is not None:
        return refused
    assert asked.period is not None
    totals = service.totals(db_session=db, user=user, period=asked.period, filters=asked.filters)
    rows = service.page_of_rows(
        db_session=db, user=user, period=asked.period, filters=asked.filters
    )
    body = pdf.noncompliance_pdf(
        heading=_heading(db, user, asked, totals), rows=rows, locale=i18n.get_locale()
    )
    _record_export(db, user, asked, "pdf", len(rows))
    return Response(
        body,
        media_type="application/pdf",
        headers={
            "content-disposition": f'attachment; filename="{_filename(asked, "pdf")}"',
            "cache-control": "no-store",
        },
    )


def csv_lines(rows: Iterator[service.Row], labels: dict[str, dict[str, str]]) -> Iterator[bytes]:
    """UTF-8 with a byte order mark (so Excel reads accents), in batches as the rows are read.

    `labels` holds the words for codes, looked up before streaming starts, in the request's language.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    out.write("\ufeff")
    writer.writerow([spreadsheet_cell(h) for h in labels["header"].values()])
    for count, row in enumerate(rows, start=1):
        writer.writerow(
            [
                spreadsheet_cell(v)
                for v in (
                    row.trade_name,
                    row.legal_name,
                    row.ruc,
                    row.branch_code,
                    labels["region"].get(row.region, row.region),
                    labels["category"].get(row.category, row.category),
                    labels["reason"].get(row.reason, row.reason),
                    row.days_overdue,
                    labels["status"].get(row.signature_status, row.signature_status),
                )
            ]
        )
        if count % CSV_BATCH == 0:
            yield out.getvalue().encode("utf-8")
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode("utf-8")


def csv_labels() -> dict[str, dict[str, str]]:
    """Column names and the words for codes, in the current language."""
    scheme = current_scheme()
    header = {
        "trade_name": _("Trade name"),
        "legal_name": _("Legal name"),
        "ruc": _("RUC"),
        "branch_code": _("Branch"),
        "region": _("Region"),
        "category": _("Category"),
        "reason": _("Reason"),
        "days_overdue": _("Days overdue"),
        "signature_status": _("Signature status"),
    }
    return {
        "header": header,
        "region": {r.code: r.name for r in scheme.regions},
        "category": {c.code: i18n.localized(c.name) for c in scheme.categories},
        "reason": {code: service.reason_label(code) for code in REASONS},
        "status": {
            code: service.signature_status_label(code) for code in service.SIGNATURE_STATUS_LABELS
        },
    }


def _streamed_rows(
    engine: Engine, user: User, period: ReportingPeriod, filters: ListFilter
) -> Iterator[service.Row]:
    # The request's session is closed when the view returns, before the rows are sent.
    with Session(engine) as session:
        yield from service.iter_rows(db_session=session, user=user, period=period, filters=filters)


@router.get("/review/noncompliance.csv", response_model=None)
def noncompliance_csv(
    request: Request,
    db: DbSession,
    user: Reviewer,
    period: Param = "",
    region: Param = "",
    category: Param = "",
    reason: Param = "",
) -> Response:
    asked = _read(db, user, period, region, category, reason)
    refused = _ready_for_export(request, db, user, asked)
    if refused is not None:
        return refused
    assert asked.period is not None
    totals = service.totals(db_session=db, user=user, period=asked.period, filters=asked.filters)
    _record_export(db, user, asked, "csv", totals.listed)
    rows = _streamed_rows(request.app.state.engine, user, asked.period, asked.filters)
    return StreamingResponse(
        csv_lines(rows, csv_labels()),
        media_type="text/csv; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="{_filename(asked, "csv")}"',
            "cache-control": "no-store",
        },
    )
