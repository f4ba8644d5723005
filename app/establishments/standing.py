"""The one place that says where an establishment stands with the Code.

Computed from the data (signatures, reporting periods, reports and their decisions), never typed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cache
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Row, and_, bindparam, case, exists, literal, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from app.clock import LIMA, lima_date, today
from app.conduct.models import Signature
from app.i18n import lazy_gettext
from app.reports.models import AnnualReport, ReportingPeriod


class Standing(StrEnum):
    NOT_SIGNED = "not_signed"
    GOOD = "good_standing"
    PENDING_REVIEW = "pending_review"
    OVERDUE = "overdue"
    NON_COMPLIANT = "non_compliant"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        return str(_LABELS[self])

    @property
    def tag(self) -> str:
        """The CSS modifier of the status tag (the word is always shown too)."""
        return _TAGS[self]


_LABELS = {
    Standing.NOT_SIGNED: lazy_gettext("Not signed"),
    Standing.GOOD: lazy_gettext("Good standing"),
    Standing.PENDING_REVIEW: lazy_gettext("Pending review"),
    Standing.OVERDUE: lazy_gettext("Overdue"),
    Standing.NON_COMPLIANT: lazy_gettext("Non-compliant"),
    Standing.SUSPENDED: lazy_gettext("Suspended"),
    Standing.REVOKED: lazy_gettext("Revoked"),
    Standing.WITHDRAWN: lazy_gettext("Withdrawn"),
}
_TAGS = {
    Standing.NOT_SIGNED: "neutral",
    Standing.GOOD: "good",
    Standing.PENDING_REVIEW: "pending",
    Standing.OVERDUE: "overdue",
    Standing.NON_COMPLIANT: "noncompliant",
    Standing.SUSPENDED: "suspended",
    Standing.REVOKED: "revoked",
    Standing.WITHDRAWN: "neutral",
}
_FILED = ("submitted", "resubmitted")


class SignatureFacts(Protocol):
    """What the standing needs of a signature: a `Signature`, or a row with these columns."""

    @property
    def status(self) -> str: ...
    @property
    def signed_at(self) -> datetime: ...


def standing_from(
    signature: SignatureFacts | None,
    periods: Iterable[Any] = (),
    report_states: dict[int, str] | None = None,
    on: date | None = None,
) -> Standing:
    """Where an establishment stands, given its latest signature, the reporting periods, and the
    state of its report for each period (by period id).

    The report that counts is the one of the latest period the establishment had to file for
    whose deadline has passed, or that it has already filed.
    """
    if signature is None:
        return Standing.NOT_SIGNED
    if signature.status != "active":
        return {
            "suspended": Standing.SUSPENDED,
            "revoked": Standing.REVOKED,
            "withdrawn": Standing.WITHDRAWN,
        }[signature.status]
    on = on or today()
    states = report_states or {}
    signed_on = lima_date(signature.signed_at)
    for period in sorted(periods, key=lambda p: p.year, reverse=True):
        if signed_on > period.cutoff_on:
            continue  # not a signatory yet on the cut-off date: nothing to file
        state = states.get(period.id)  # type: ignore[arg-type]
        if on <= period.deadline and state not in (*_FILED, "approved", "rejected"):
            continue  # not due yet
        if state == "approved":
            return Standing.GOOD
        if state == "rejected":
            return Standing.NON_COMPLIANT
        if state in _FILED:
            return Standing.PENDING_REVIEW
        grace_end = period.deadline + timedelta(days=period.grace_days)
        return Standing.NON_COMPLIANT if on > grace_end else Standing.OVERDUE
    return Standing.GOOD


def latest_signatures(
    db_session: Session, establishment_ids: Iterable[int]
) -> dict[int, Signature]:
    """The most recent signature of each establishment (one query)."""
    ids = list(establishment_ids)
    latest: dict[int, Signature] = {}
    if not ids:
        return latest
    rows = db_session.scalars(
        select(Signature)
        .where(Signature.establishment_id.in_(ids))  # type: ignore[attr-defined]
        .order_by(Signature.establishment_id, Signature.signed_at, Signature.id)
    )
    for signature in rows:
        latest[signature.establishment_id] = signature
    return latest


# Built once: plain table columns and bound parameters, so that a page of the register (20
# standings) costs two small cached statements and no ORM objects.
_period_table = ReportingPeriod.__table__  # type: ignore[attr-defined]
_report_table = AnnualReport.__table__  # type: ignore[attr-defined]
_PERIODS = select(
    _period_table.c.id,
    _period_table.c.year,
    _period_table.c.opens_on,
    _period_table.c.cutoff_on,
    _period_table.c.deadline,
    _period_table.c.grace_days,
)
_REPORT_STATES = select(
    _report_table.c.establishment_id, _report_table.c.period_id, _report_table.c.state
).where(_report_table.c.establishment_id.in_(bindparam("ids", expanding=True)))


def period_rows(db_session: Session) -> list[Row[Any]]:
    """The reporting periods, as rows with the columns `standing_from` and `standing_sql` read
    (id, year, opens_on, cutoff_on, deadline, grace_days). Read at every call (a period edited in
    another process counts at once), but cheaply: one cached statement, no ORM objects."""
    if db_session.autoflush:
        db_session.flush()  # as an ORM query would: a period added in this session counts
    return list(db_session.execute(_PERIODS).all())


def report_states(db_session: Session, ids: list[int]) -> dict[int, dict[int, str]]:
    """The state of each establishment's report for each period, by establishment and period id."""
    states: dict[int, dict[int, str]] = {}
    if not ids:
        return states
    if db_session.autoflush:
        db_session.flush()
    # Only the three columns needed (not the reports' content), so a page of the register is cheap.
    for establishment_id, period_id, state in db_session.execute(_REPORT_STATES, {"ids": ids}):
        states.setdefault(establishment_id, {})[period_id] = state
    return states


def standings(
    db_session: Session,
    establishment_ids: Iterable[int],
    latest: Mapping[int, SignatureFacts] | None = None,
) -> dict[int, Standing]:
    """The standing of each establishment, with a fixed number of queries however many there are.

    `latest`: their latest signatures (or rows with their status and signed_at), when the caller
    has them already.
    """
    ids = list(establishment_ids)
    if not ids:
        return {}
    if latest is None:
        latest = latest_signatures(db_session, ids)
    periods = period_rows(db_session)
    states = report_states(db_session, ids)
    return {i: standing_from(latest.get(i), periods, states.get(i)) for i in ids}


@cache
def is_latest_signature() -> ColumnElement[bool]:
    """SQL: the `Signature` in the statement is its establishment's most recent one (the same one
    `latest_signatures` picks): no other is later. An anti-join both databases plan well.

    Built once (an expression is immutable; building the alias costs milliseconds)."""
    later = aliased(Signature)
    return ~exists().where(
        later.establishment_id == Signature.establishment_id,
        or_(
            later.signed_at > Signature.signed_at,  # type: ignore[operator]
            and_(later.signed_at == Signature.signed_at, later.id > Signature.id),  # type: ignore[operator]
        ),
    )


def latest_signature_join(establishment_id: Any) -> ColumnElement[bool]:
    """SQL: the ON clause that joins `Signature` as the latest signature of `establishment_id`."""
    return and_(Signature.establishment_id == establishment_id, is_latest_signature())


def standing_sql(
    establishment_id: Any, periods: Iterable[Any], on: date | None = None
) -> tuple[ColumnElement[str], list[tuple[Any, Any]]]:
    """SQL: the standing's value for the establishment `establishment_id` refers to, whose latest
    signature is the `Signature` joined in the same statement (see `latest_signature_join`); and
    the reports to outer-join for it (an alias of annual_report and its ON clause, per period).

    The same rules as `standing_from`, written out for the given periods and day so that the
    register can filter by standing inside the database (tests/establishments/test_standing.py
    checks that both agree in every case).
    """
    on = on or today()
    whens: list[tuple[Any, Any]] = [
        (Signature.status == status, literal(standing.value))
        for status, standing in (
            ("suspended", Standing.SUSPENDED),
            ("revoked", Standing.REVOKED),
            ("withdrawn", Standing.WITHDRAWN),
        )
    ]
    joins: list[tuple[Any, Any]] = []
    for period in sorted(periods, key=lambda p: p.year, reverse=True):
        # signed_on <= cutoff_on, in Lima's dates: signed before the next day began in Lima.
        next_day = datetime.combine(period.cutoff_on + timedelta(days=1), time(), LIMA)
        eligible = Signature.signed_at < next_day.astimezone(UTC)  # type: ignore[operator]
        report = aliased(AnnualReport)
        joins.append(
            (
                report,
                and_(report.establishment_id == establishment_id, report.period_id == period.id),
            )
        )
        state = report.state
        grace_end = period.deadline + timedelta(days=period.grace_days)
        unanswered = Standing.NON_COMPLIANT if on > grace_end else Standing.OVERDUE
        outcome = case(
            (state == "approved", literal(Standing.GOOD.value)),
            (state == "rejected", literal(Standing.NON_COMPLIANT.value)),
            (state.in_(_FILED), literal(Standing.PENDING_REVIEW.value)),
            else_=literal(unanswered.value),
        )
        if on <= period.deadline:  # not due yet: counts only once filed or decided
            whens.append((and_(eligible, state.in_((*_FILED, "approved", "rejected"))), outcome))
        else:
            whens.append((eligible, outcome))
    return case(*whens, else_=literal(Standing.GOOD.value)), joins
