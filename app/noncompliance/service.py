"""The non-compliance list: for a period whose deadline and grace have passed, every establishment
that had to file and has no approved report, with the reason.

It is the basis for sanctions, so the rules are spelled out here and nowhere else:

- Who had to file: an establishment with a signature made on or before the period's cut-off date
  (Lima) that had not ended (withdrawn or revoked) by the end of that day. `status_changed_at` says
  when a signature last changed, and a withdrawn or revoked signature never changes again, so "ended
  after the cut-off" is "status withdrawn/revoked and status_changed_at after the cut-off day". A
  signatory suspended, revoked or withdrawn after the cut-off still had to file: it is listed, and
  its current signature status is shown beside it. An establishment that signed again after
  withdrawing counts if any of its signatures was in force on the cut-off date.
- Why it is listed: no report (none started, or a draft never filed), changes requested and not
  answered, or rejected. Approved (even late) is not listed; filed and waiting for a decision is not
  the operator's fault, so it is not listed either (the page says how many there are).
- When: only once the deadline and the grace period have passed (the day after the grace ends).
- Days overdue: days from the deadline to today (Lima).

Every query here is one statement, whatever the number of establishments (no per-row queries).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Select, and_, case, exists, func, not_, or_, select
from sqlmodel import Session

from app.auth.models import User
from app.clock import LIMA, today
from app.conduct.models import Signature
from app.errors import DomainError
from app.establishments.service import readable_statement
from app.i18n import _, lazy_gettext
from app.jurisdiction import current_scheme
from app.reports.models import AnnualReport, ReportingPeriod
from app.reports.service import grace_ends_on

REASONS = ("no_report", "changes_not_answered", "rejected")
REASON_LABELS = {
    "no_report": lazy_gettext("No report"),
    "changes_not_answered": lazy_gettext("Changes requested, not answered"),
    "rejected": lazy_gettext("Rejected"),
}
SIGNATURE_STATUS_LABELS = {
    "active": lazy_gettext("Active"),
    "suspended": lazy_gettext("Suspended"),
    "revoked": lazy_gettext("Revoked"),
    "withdrawn": lazy_gettext("Withdrawn"),
}
_ENDED = ("withdrawn", "revoked")
_WAITING = ("submitted", "resubmitted")


def reason_label(code: str) -> str:
    label = REASON_LABELS.get(code)
    return str(label) if label is not None else code


def signature_status_label(code: str) -> str:
    label = SIGNATURE_STATUS_LABELS.get(code)
    return str(label) if label is not None else code


@dataclass(frozen=True)
class ListFilter:
    """What the list is narrowed to; empty strings mean "all" (within the person's regions)."""

    region: str = ""
    category: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Row:
    """One establishment on the list, as plain values (a PDF worker process receives these)."""

    establishment_id: int
    trade_name: str
    legal_name: str
    ruc: str
    branch_code: str
    region: str
    category: str
    reason: str
    signature_status: str
    days_overdue: int


@dataclass
class Totals:
    """How many are listed for each reason, and how many are not listed because they wait for review."""

    by_reason: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    pending_review: int = 0

    @property
    def listed(self) -> int:
        return sum(self.by_reason.values())


class ListNotReady(DomainError):
    """The grace period has not ended: nobody can be declared non-compliant yet."""


def available_from(period: ReportingPeriod) -> date:
    """The first day the list can be produced: the day after the grace period ends."""
    return grace_ends_on(period) + timedelta(days=1)


def check_ready(period: ReportingPeriod, on: date | None = None) -> None:
    on = on or today()
    if on < available_from(period):
        raise ListNotReady(
            _(
                "The non-compliance list for the report on %(year)s can be produced from "
                "%(date)s, once the deadline (%(deadline)s) and the grace period of %(days)s "
                "days have passed.",
                year=period.year,
                date=available_from(period).isoformat(),
                deadline=period.deadline.isoformat(),
                days=period.grace_days,
            )
        )


def _end_of_lima_day(day: date) -> Any:
    from datetime import datetime

    return datetime(day.year, day.month, day.day, tzinfo=LIMA) + timedelta(days=1)


def _obliged(establishment_id: Any, period: ReportingPeriod) -> Any:
    """EXISTS a signature in force at the end of the cut-off day (see the module docstring)."""
    limit = _end_of_lima_day(period.cutoff_on)
    ended_before = and_(
        Signature.status.in_(_ENDED),  # type: ignore[attr-defined]
        # A withdrawn or revoked signature without a recorded time is taken as ended when signed.
        func.coalesce(Signature.status_changed_at, Signature.signed_at) < limit,
    )
    return exists().where(
        Signature.establishment_id == establishment_id,
        Signature.signed_at < limit,
        not_(ended_before),
    )


def _latest_status(establishment_id: Any) -> Any:
    return (
        select(Signature.status)
        .where(Signature.establishment_id == establishment_id)
        .order_by(Signature.signed_at.desc(), Signature.id.desc())  # type: ignore[attr-defined,union-attr]
        .limit(1)
        .scalar_subquery()
    )


def _situation(state: Any) -> Any:
    """The report's state as a list reason, 'pending' or 'approved' (NULL state: none started)."""
    return case(
        (or_(state.is_(None), state == "draft"), "no_report"),
        (state == "changes_requested", "changes_not_answered"),
        (state == "rejected", "rejected"),
        (state.in_(_WAITING), "pending"),
        else_="approved",
    )


def _base(user: User, period: ReportingPeriod, filters: ListFilter) -> tuple[Any, Any, Select[Any]]:
    """The establishments the person may see that had to file, joined to their report for the period."""
    scoped = readable_statement(user).subquery()
    situation = _situation(AnnualReport.state)
    statement = (
        select(scoped, situation.label("situation"))
        .select_from(scoped)
        .outerjoin(
            AnnualReport,
            and_(AnnualReport.establishment_id == scoped.c.id, AnnualReport.period_id == period.id),  # type: ignore[arg-type]
        )
        .where(_obliged(scoped.c.id, period))
    )
    if filters.region:
        statement = statement.where(scoped.c.region == filters.region)
    if filters.category:
        statement = statement.where(scoped.c.category == filters.category)
    return scoped, situation, statement


def _region_order(column: Any) -> Any:
    """Regions in the order the scheme lists them (by name), not by code."""
    codes = [r.code for r in current_scheme().regions]
    return case({code: index for index, code in enumerate(codes)}, value=column, else_=len(codes))


def list_statement(user: User, period: ReportingPeriod, filters: ListFilter) -> Select[Any]:
    """The rows of the list, sorted by region, then trade name."""
    scoped, situation, statement = _base(user, period, filters)
    reasons = [filters.reason] if filters.reason else list(REASONS)
    return (
        statement.with_only_columns(
            scoped.c.id,
            scoped.c.trade_name,
            scoped.c.legal_name,
            scoped.c.ruc,
            scoped.c.branch_code,
            scoped.c.region,
            scoped.c.category,
            situation.label("reason"),
            _latest_status(scoped.c.id).label("signature_status"),
        )
        .where(situation.in_(reasons))
        .order_by(_region_order(scoped.c.region), scoped.c.trade_name, scoped.c.id)
    )


def _row(values: Any, days_overdue: int) -> Row:
    return Row(*values, days_overdue=days_overdue)  # type: ignore[call-arg]


def days_overdue(period: ReportingPeriod, on: date | None = None) -> int:
    return ((on or today()) - period.deadline).days


def page_of_rows(
    *,
    db_session: Session,
    user: User,
    period: ReportingPeriod,
    filters: ListFilter,
    offset: int = 0,
    limit: int | None = None,
    on: date | None = None,
) -> list[Row]:
    """A slice of the list (a page in the browser), or all of it."""
    statement = list_statement(user, period, filters).offset(offset)
    if limit is not None:
        statement = statement.limit(limit)
    days = days_overdue(period, on)
    return [_row(values, days) for values in db_session.execute(statement)]


def iter_rows(
    *,
    db_session: Session,
    user: User,
    period: ReportingPeriod,
    filters: ListFilter,
    on: date | None = None,
    batch: int = 500,
) -> Iterator[Row]:
    """The whole list, read from the database in batches (a server-side cursor on PostgreSQL), so
    that memory does not grow with its length."""
    days = days_overdue(period, on)
    result = db_session.execute(
        list_statement(user, period, filters), execution_options={"yield_per": batch}
    )
    for values in result:
        yield _row(values, days)


def totals(
    *, db_session: Session, user: User, period: ReportingPeriod, filters: ListFilter
) -> Totals:
    """Listed per reason (one grouped query), plus those filed and waiting for a decision."""
    _scoped, situation, statement = _base(user, period, filters)
    # Grouped over a subquery: PostgreSQL does not match a CASE with bound parameters in GROUP BY.
    each = statement.with_only_columns(situation.label("situation")).subquery()
    grouped = select(each.c.situation, func.count()).group_by(each.c.situation)
    result = Totals()
    for code, count in db_session.execute(grouped):
        if code in result.by_reason and (not filters.reason or code == filters.reason):
            result.by_reason[code] = count
        elif code == "pending":
            result.pending_review = count
    return result
