"""Staff figures for one reporting period: who must file, who filed, and where each report stands,
by region and by category, counting only the establishments the person may see."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from sqlalchemy import and_, exists, select
from sqlmodel import Session

from app.auth.models import User
from app.auth.roles import Permission, has_permission
from app.auth.service import user_regions
from app.clock import today
from app.errors import NotFound
from app.establishments.service import readable_statement
from app.i18n import lazy_gettext
from app.jurisdiction import current_scheme
from app.reports.models import AnnualReport, ReportingPeriod, ReportSubmission
from app.reports.service import (
    grace_ends_on,
    list_periods,
    obliged_establishment_ids,
    period_state,
)

_WAITING_FOR_REVIEW = ("submitted", "resubmitted")


class PeriodStatus(StrEnum):
    """Where one establishment's report for one period stands."""

    APPROVED = "approved"
    PENDING = "pending"
    OVERDUE = "overdue"
    NON_COMPLIANT = "non_compliant"
    NOT_DUE = "not_due"


def period_status(period: ReportingPeriod, state: str | None, on: date) -> PeriodStatus:
    """The standing rules of app/establishments/standing.py, applied to the report of one period.

    Per period rather than the establishment's overall standing: `standing_from` answers "where
    does this establishment stand today", so it looks only at the latest period due and lets a
    suspended signature outrank every report. A dashboard for the period 2024 must count how the
    2024 reports went, even for an establishment whose standing now depends on 2025 or on a
    suspension. `state` is the report's state, None when no report was started.
    """
    if state == "approved":
        return PeriodStatus.APPROVED
    if state == "rejected":
        return PeriodStatus.NON_COMPLIANT
    if state in _WAITING_FOR_REVIEW:
        return PeriodStatus.PENDING
    if on <= period.deadline:
        return PeriodStatus.NOT_DUE
    return PeriodStatus.NON_COMPLIANT if on > grace_ends_on(period) else PeriodStatus.OVERDUE


@dataclass
class Counts:
    """Establishments that must file, and how many of them are in each situation.

    approved + pending + overdue + non_compliant + not_due == must_file; `filed` (sent at least
    once) overlaps them: a report with changes requested and left unanswered is filed and overdue.
    """

    must_file: int = 0
    filed: int = 0
    approved: int = 0
    pending: int = 0
    overdue: int = 0
    non_compliant: int = 0
    not_due: int = 0

    def add(self, status: PeriodStatus, filed: bool) -> None:
        self.must_file += 1
        self.filed += int(filed)
        setattr(self, status.value, getattr(self, status.value) + 1)


#: The columns of the dashboard table, in the order the page and the downloads show them.
COLUMNS = (
    ("must_file", lazy_gettext("Must file")),
    ("filed", lazy_gettext("Filed")),
    ("approved", lazy_gettext("Approved")),
    ("pending", lazy_gettext("Pending review")),
    ("overdue", lazy_gettext("Overdue")),
    ("non_compliant", lazy_gettext("Non-compliant")),
    ("not_due", lazy_gettext("Not due yet")),
)


@dataclass(frozen=True)
class Row:
    code: str  # a region's or a category's code
    counts: Counts


@dataclass(frozen=True)
class Figures:
    period: ReportingPeriod
    region: str | None  # the region chosen, None for every region the person may see
    on: date
    scope: list[str] = field(default_factory=list)  # the regions the person may see
    regions: list[Row] = field(default_factory=list)
    categories: list[Row] = field(default_factory=list)
    total: Counts = field(default_factory=Counts)


def regions_in_scope(*, db_session: Session, user: User) -> list[str]:
    """The regions whose establishments the user may see, in the scheme's order."""
    codes = [r.code for r in current_scheme().regions]
    if has_permission(user.role, Permission.VIEW_ALL_ESTABLISHMENTS):
        return codes
    if has_permission(user.role, Permission.VIEW_REGION_ESTABLISHMENTS):
        mine = set(user_regions(db_session=db_session, user=user))
        return [code for code in codes if code in mine]
    return []


def default_period(*, db_session: Session) -> ReportingPeriod | None:
    """The latest period that has opened (the one staff are working on), if any."""
    return next(
        (p for p in list_periods(db_session=db_session) if period_state(p) != "upcoming"), None
    )


def period_figures(
    *,
    db_session: Session,
    user: User,
    period: ReportingPeriod,
    region: str | None,
    on: date | None = None,
) -> Figures:
    """Counts by region and by category for the period; NotFound for a region outside the user's scope."""
    on = on or today()
    scope = regions_in_scope(db_session=db_session, user=user)
    if region is not None and region not in scope:
        raise NotFound()
    regions = [region] if region else scope
    obliged = set(obliged_establishment_ids(db_session=db_session, period=period))

    # Two queries however many establishments there are. The readable establishments are joined
    # to their report here and matched against `obliged` in Python, rather than passing thousands
    # of ids as parameters (SQLite and PostgreSQL both cap their number).
    readable = readable_statement(user).subquery()
    filed = exists().where(ReportSubmission.report_id == AnnualReport.id)
    rows = db_session.execute(
        select(readable.c.id, readable.c.region, readable.c.category, AnnualReport.state, filed)
        .select_from(readable)
        .outerjoin(
            AnnualReport,
            and_(
                AnnualReport.establishment_id == readable.c.id, AnnualReport.period_id == period.id
            ),  # type: ignore[arg-type]
        )
        .where(readable.c.region.in_(regions))
    )

    by_region = {code: Counts() for code in regions}
    by_category = {c.code: Counts() for c in current_scheme().categories}
    total = Counts()
    for establishment_id, region_code, category, state, was_filed in rows:
        if establishment_id not in obliged:
            continue
        status = period_status(period, state, on)
        for counts in (
            by_region[region_code],
            by_category.setdefault(category, Counts()),
            total,
        ):
            counts.add(status, bool(was_filed))
    return Figures(
        period=period,
        region=region,
        on=on,
        scope=scope,
        regions=[Row(code, counts) for code, counts in by_region.items()],
        categories=[Row(code, counts) for code, counts in by_category.items()],
        total=total,
    )
