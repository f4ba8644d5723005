"""Public statistics for a reporting period: by region and by category, with small-cell suppression.

For each period the figures are counted in one table of regions by categories, with its totals,
one table per measure; each table is protected as a whole (app/opendata/suppression.py) and every
page, chart and download only ever shows cells of those protected tables. So filtering by region
or by category shows nothing that the unfiltered tables do not, and no combination of views gives
more away than one protected table does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from sqlalchemy import and_, exists, func, select
from sqlmodel import Session

from app.clock import today
from app.dashboard.service import PeriodStatus, period_status
from app.errors import NotFound
from app.establishments.models import Establishment
from app.i18n import lazy_gettext
from app.jurisdiction import current_scheme
from app.opendata.suppression import Grid, Published, PublishedGrid, extend, protect
from app.reports.models import AnnualReport, ReportingPeriod, ReportSubmission
from app.reports.service import obliged_establishment_ids

#: What is counted, in the order of the tables and downloads: (key, label).
MEASURES = (
    ("signatories", lazy_gettext("Signatories obliged to report")),
    ("filed", lazy_gettext("Filed")),
    ("approved", lazy_gettext("Approved")),
    ("overdue", lazy_gettext("Overdue")),
    ("non_compliant", lazy_gettext("Non-compliant")),
    ("cases_detected", lazy_gettext("Suspected cases detected")),
    ("cases_reported", lazy_gettext("Cases reported to the authorities")),
)
MEASURE_KEYS = tuple(key for key, _label in MEASURES)
#: The code of a total row or column in the downloads.
TOTAL = "TOTAL"
_REPORTING_FIGURES = ("sections", "reporting", "figures")


@dataclass(frozen=True)
class YearStatistics:
    """The protected tables of one period: for each measure, regions by categories with totals."""

    period: ReportingPeriod
    on: date
    regions: tuple[str, ...]
    categories: tuple[str, ...]
    published: dict[str, PublishedGrid]

    def value(self, measure: str, region: str | None, category: str | None) -> Published:
        """A published cell; None for a region or a category means its total."""
        i = self.regions.index(region) if region else len(self.regions)
        j = self.categories.index(category) if category else len(self.categories)
        return self.published[measure][i][j]

    def values(self, region: str | None, category: str | None) -> dict[str, Published]:
        return {key: self.value(key, region, category) for key in MEASURE_KEYS}


@dataclass(frozen=True)
class Line:
    code: str | None  # a region's or a category's code; None for the total
    values: dict[str, Published]


@dataclass(frozen=True)
class View:
    """What a page shows for the filters chosen (None: every region, every category)."""

    statistics: YearStatistics
    region: str | None
    category: str | None
    by_region: list[Line] = field(default_factory=list)
    by_category: list[Line] = field(default_factory=list)
    total: Line | None = None


def published_periods(*, db_session: Session, on: date | None = None) -> list[ReportingPeriod]:
    """Periods that have opened, newest first: there is something to count for them."""
    on = on or today()
    return list(
        db_session.scalars(
            select(ReportingPeriod)
            .where(ReportingPeriod.opens_on <= on)  # type: ignore[arg-type]
            .order_by(ReportingPeriod.year.desc())  # type: ignore[attr-defined]
        )
    )


def period_for(*, db_session: Session, year: int | None, on: date | None = None) -> ReportingPeriod:
    """The period asked for, or the latest that has opened; NotFound when there is none."""
    periods = published_periods(db_session=db_session, on=on)
    chosen = next((p for p in periods if year is None or p.year == year), None)
    if chosen is None:
        raise NotFound()
    return chosen


def year_statistics(
    *, db_session: Session, period: ReportingPeriod, on: date | None = None
) -> YearStatistics:
    """Count every measure for the period, then protect each table."""
    on = on or today()
    scheme = current_scheme()
    regions = tuple(r.code for r in scheme.regions)
    categories = tuple(c.code for c in scheme.categories)
    cells = _count(db_session, period, on, regions, categories)
    return YearStatistics(
        period=period,
        on=on,
        regions=regions,
        categories=categories,
        published={key: _protect(extend(cells[key])) for key in MEASURE_KEYS},
    )


def _count(
    db_session: Session,
    period: ReportingPeriod,
    on: date,
    regions: tuple[str, ...],
    categories: tuple[str, ...],
) -> dict[str, list[list[int]]]:
    cells = {key: [[0] * len(categories) for _ in regions] for key in MEASURE_KEYS}
    row = {code: i for i, code in enumerate(regions)}
    column = {code: j for j, code in enumerate(categories)}
    obliged = set(obliged_establishment_ids(db_session=db_session, period=period))

    # Every establishment with its report for the period (if any), matched against `obliged` in
    # Python rather than passing thousands of ids as parameters, as the staff dashboard does.
    filed = exists().where(ReportSubmission.report_id == AnnualReport.id)
    rows = db_session.execute(
        select(
            Establishment.id,
            Establishment.region,
            Establishment.category,
            AnnualReport.state,
            filed,
        ).outerjoin(
            AnnualReport,
            and_(
                AnnualReport.establishment_id == Establishment.id,
                AnnualReport.period_id == period.id,
            ),  # type: ignore[arg-type]
        )
    )
    where: dict[int, tuple[int, int]] = {}
    for establishment_id, region, category, state, was_filed in rows:
        if establishment_id not in obliged or region not in row or category not in column:
            continue
        i, j = row[region], column[category]
        where[establishment_id] = (i, j)
        status = period_status(period, state, on)
        cells["signatories"][i][j] += 1
        cells["filed"][i][j] += int(bool(was_filed))
        cells["approved"][i][j] += int(status == PeriodStatus.APPROVED)
        cells["overdue"][i][j] += int(status == PeriodStatus.OVERDUE)
        cells["non_compliant"][i][j] += int(status == PeriodStatus.NON_COMPLIANT)

    for establishment_id, detected, reported in _approved_case_figures(db_session, period):
        if establishment_id in where:
            i, j = where[establishment_id]
            cells["cases_detected"][i][j] += detected or 0
            cells["cases_reported"][i][j] += reported or 0
    return cells


def _approved_case_figures(
    db_session: Session, period: ReportingPeriod
) -> list[tuple[int, int | None, int | None]]:
    """Cases detected and reported, as filed in the submission that was approved (the latest).

    Read with the database's JSON path operators (json_extract on SQLite, #>> on PostgreSQL), so
    only two numbers per report cross the wire, not the whole report.
    """
    latest = (
        select(ReportSubmission.report_id, func.max(ReportSubmission.id).label("submission_id"))
        .group_by(ReportSubmission.report_id)
        .subquery()
    )
    content = ReportSubmission.__table__.c.content  # type: ignore[attr-defined]
    detected = content[(*_REPORTING_FIGURES, "cases_detected")].as_integer()
    reported = content[(*_REPORTING_FIGURES, "cases_reported")].as_integer()
    rows = db_session.execute(
        select(AnnualReport.establishment_id, detected, reported)
        .join(latest, latest.c.report_id == AnnualReport.id)
        .join(ReportSubmission, ReportSubmission.id == latest.c.submission_id)  # type: ignore[arg-type]
        .where(AnnualReport.period_id == period.id, AnnualReport.state == "approved")
    )
    return [(e, d, r) for e, d, r in rows]


@lru_cache(maxsize=512)
def _protect_cached(grid: tuple[tuple[int, ...], ...]) -> tuple[tuple[Published, ...], ...]:
    return tuple(tuple(row) for row in protect([list(row) for row in grid]))


def _protect(grid: Grid) -> PublishedGrid:
    """protect() is pure and the same tables come back on every page view: remember the answers."""
    return [list(row) for row in _protect_cached(tuple(tuple(row) for row in grid))]


def view(statistics: YearStatistics, region: str | None, category: str | None) -> View:
    """The tables by region and by category for the filters, read from the protected tables."""
    regions = [region] if region else list(statistics.regions)
    categories = [category] if category else list(statistics.categories)
    return View(
        statistics=statistics,
        region=region,
        category=category,
        by_region=[Line(code, statistics.values(code, category)) for code in regions],
        by_category=[Line(code, statistics.values(region, code)) for code in categories],
        total=Line(None, statistics.values(region, category)),
    )


def download_rows(
    statistics: YearStatistics, region: str | None, category: str | None
) -> list[tuple[str, str, dict[str, Published]]]:
    """Every cell of the selection, totals included: (region or TOTAL, category or TOTAL, values)."""
    regions: list[str | None] = [region] if region else [*statistics.regions, None]
    categories: list[str | None] = [category] if category else [*statistics.categories, None]
    return [(r or TOTAL, c or TOTAL, statistics.values(r, c)) for r in regions for c in categories]
