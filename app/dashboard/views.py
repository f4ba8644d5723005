"""The staff dashboard page and its downloads (CSV, XLSX)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from app.auth.dependencies import Forbidden, SignedInUser
from app.auth.models import User
from app.auth.roles import Permission, has_permission
from app.dashboard import charts, exports, service
from app.dashboard.service import COLUMNS, Figures
from app.db import DbSession
from app.errors import NotFound
from app.i18n import _
from app.reports.service import get_period, grace_ends_on, list_periods
from app.web import form_state, region_name, render

router = APIRouter()


def require_staff(user: SignedInUser) -> User:
    """Staff who see establishments (regional and national reviewers, administrators); others 403."""
    if not (
        has_permission(user.role, Permission.VIEW_REGION_ESTABLISHMENTS)
        or has_permission(user.role, Permission.VIEW_ALL_ESTABLISHMENTS)
    ):
        raise Forbidden()
    return user


Staff = Annotated[User, Depends(require_staff)]
Year = Annotated[int | None, Query(ge=2000, le=2100)]
Region = Annotated[str, Query(max_length=10)]


def _figures(db: DbSession, user: User, year: int | None, region: str) -> Figures | None:
    """The figures asked for; None when no period has opened yet and none was named."""
    period = (
        get_period(db_session=db, year=year)
        if year is not None
        else service.default_period(db_session=db)
    )
    if period is None:
        return None
    return service.period_figures(db_session=db, user=user, period=period, region=region or None)


def _query(figures: Figures) -> str:
    params = {"year": figures.period.year, **({"region": figures.region} if figures.region else {})}
    return urlencode(params)


@router.get("/staff/dashboard")
def dashboard(
    request: Request, db: DbSession, user: Staff, year: Year = None, region: Region = ""
) -> HTMLResponse:
    """How many must file for a period, filed, approved, pending, overdue, non-compliant."""
    figures = _figures(db, user, year, region)
    context: dict[str, object] = {
        "figures": figures,
        "all_regions": (
            _("All regions")
            if has_permission(user.role, Permission.VIEW_ALL_ESTABLISHMENTS)
            else _("All your regions")
        ),
    }
    if figures is not None:
        context.update(
            columns=COLUMNS,
            year_options=[
                (str(p.year), _("Report %(year)s", year=p.year))
                for p in list_periods(db_session=db)
            ],
            region_options=[(code, region_name(code)) for code in figures.scope],
            form=form_state({"year": figures.period.year, "region": figures.region}),
            grace_ends_on=grace_ends_on(figures.period),
            region_chart=charts.region_chart(figures),
            category_chart=charts.category_chart(figures),
            query=_query(figures),
        )
    return render(request, "dashboard/staff.html", context)


def _download(
    figures: Figures | None, extension: str, media_type: str, body_of: Callable[[Figures], bytes]
) -> Response:
    if figures is None:
        raise NotFound()
    return Response(
        body_of(figures),
        media_type=media_type,
        headers={
            "content-disposition": f'attachment; filename="{exports.filename(figures, extension)}"',
            "cache-control": "no-store",
        },
    )


@router.get("/staff/dashboard.csv")
def dashboard_csv(db: DbSession, user: Staff, year: Year = None, region: Region = "") -> Response:
    figures = _figures(db, user, year, region)
    return _download(figures, "csv", exports.CSV_MEDIA_TYPE, exports.to_csv)


@router.get("/staff/dashboard.xlsx")
def dashboard_xlsx(db: DbSession, user: Staff, year: Year = None, region: Region = "") -> Response:
    figures = _figures(db, user, year, region)
    return _download(figures, "xlsx", exports.XLSX_MEDIA_TYPE, exports.to_xlsx)
