"""Administrators' pages for reporting periods: the list, adding a period, changing it, closing it."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationInfo, field_validator

from app.audit import service as audit
from app.auth.dependencies import require
from app.auth.models import User
from app.auth.roles import Permission
from app.clock import today
from app.db import DbSession
from app.errors import DomainError
from app.i18n import _
from app.reports import (
    labels,  # noqa: F401  (template filters)
    service,
)
from app.reports.models import ReportingPeriod
from app.web import (
    FormModel,
    FormState,
    PostedForm,
    check_csrf,
    csrf_error_message,
    date_long,
    form_state,
    redirect,
    render,
    required,
    validate_form,
)

router = APIRouter()
Admin = Annotated[User, Depends(require(Permission.MANAGE_PERIODS))]
Year = Annotated[int, Path(ge=2000, le=2100)]

_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})")
_DMY_DATE = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")
_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,6}")
# 1900-2199: the service says which years it accepts; this only keeps its date arithmetic safe.
_YEAR = re.compile(r"(19|20|21)[0-9]{2}")


def _typed_date(value: object, message: str) -> date | None:
    """A date typed as DD/MM/YYYY or YYYY-MM-DD; blank is None (the period's default)."""
    text = str(value or "").strip()
    if not text:
        return None
    if match := _ISO_DATE.fullmatch(text):
        year, month, day = match.groups()
    elif match := _DMY_DATE.fullmatch(text):
        day, month, year = match.groups()
    else:
        raise ValueError(message)
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        raise ValueError(message) from None


def _as_typed(day: date) -> str:
    return day.strftime("%d/%m/%Y")


class PeriodForm(FormModel):
    """A period's dates, grace and form version; a blank date takes the default for the year."""

    opens_on: date | None = None
    deadline: date | None = None
    grace_days: int = 30
    cutoff_on: date | None = None
    form_version: str = ""

    @field_validator("opens_on", "deadline", "cutoff_on", mode="before")
    @classmethod
    def _dates(cls, value: object, info: ValidationInfo) -> date | None:
        messages = {
            "opens_on": _(
                "Enter the opening date as DD/MM/YYYY, like 01/01/2026, or leave it blank"
            ),
            "deadline": _("Enter the deadline as DD/MM/YYYY, like 31/03/2026, or leave it blank"),
            "cutoff_on": _(
                "Enter the cut-off date as DD/MM/YYYY, like 31/12/2025, or leave it blank"
            ),
        }
        return _typed_date(value, messages[str(info.field_name)])

    @field_validator("grace_days", mode="before")
    @classmethod
    def _grace_days(cls, value: object) -> int:
        text = str(value or "").strip()
        if not _WHOLE_NUMBER.fullmatch(text):
            raise ValueError(_("Enter the grace period as a number of days from 0 to 365"))
        return int(text)

    @field_validator("form_version")
    @classmethod
    def _form_version(cls, value: str) -> str:
        required(value, _("Choose a version of the report form"))
        if len(value) > 20:
            raise ValueError(_("Choose a version of the report form"))
        return value

    def period_input(self, year: int) -> service.PeriodInput:
        return service.PeriodInput(
            year=year,
            opens_on=self.opens_on,
            deadline=self.deadline,
            grace_days=self.grace_days,
            cutoff_on=self.cutoff_on,
            form_version=self.form_version,
        )


class _YearField(FormModel):
    year: int = 0

    @field_validator("year", mode="before")
    @classmethod
    def _year(cls, value: object) -> int:
        text = str(value or "").strip()
        if not _YEAR.fullmatch(text):
            raise ValueError(_("Enter the year reported on, like 2025"))
        return int(text)


class NewPeriodForm(PeriodForm, _YearField):
    """A new period: the year and everything else. (_YearField last, so the year comes first.)"""


def _audited(period: ReportingPeriod) -> dict[str, object]:
    """What the audit log keeps of a period before and after a change."""
    return {
        "opens_on": period.opens_on,
        "deadline": period.deadline,
        "grace_days": period.grace_days,
        "cutoff_on": period.cutoff_on,
        "report_form_id": period.report_form_id,
        "closed": period.closed_at is not None,
    }


def _record(
    db: DbSession,
    user: User,
    action: str,
    period: ReportingPeriod,
    before: dict[str, object] | None = None,
) -> None:
    audit.record(
        db_session=db,
        actor=user,
        action=action,
        object_type="period",
        object_id=period.year,
        summary=str(period.year),
        before=before,
        after=_audited(period),
    )


# --- pages -------------------------------------------------------------------------------------


def _state_counts(db: DbSession, period: ReportingPeriod) -> dict[str, int]:
    obliged = service.obliged_establishment_ids(db_session=db, period=period)
    reports = service.reports_by_period(
        db_session=db,
        establishment_ids=obliged,
        period_ids=[period.id],  # type: ignore[list-item]
    ).values()
    return {
        "obliged": len(obliged),
        "started": len(reports),
        "submitted": sum(1 for r in reports if r.state != "draft"),
    }


@router.get("/admin/periods")
def periods_page(request: Request, db: DbSession, user: Admin) -> HTMLResponse:
    versions = {f.id: f.version for f in service.report_forms(db_session=db)}
    rows = [
        {
            "period": period,
            "state": service.period_state(period),
            "grace_ends_on": service.grace_ends_on(period),
            "form_version": versions.get(period.report_form_id, ""),
            **_state_counts(db, period),
        }
        for period in service.list_periods(db_session=db)
    ]
    return render(request, "admin/periods.html", {"rows": rows})


def _suggested_year(db: DbSession) -> int:
    periods = service.list_periods(db_session=db)
    return periods[0].year + 1 if periods else today().year - 1


def _form_context(
    db: DbSession, form: FormState, year: int, period: ReportingPeriod | None = None
) -> dict[str, object]:
    defaults = service.PeriodInput(year=year).resolved()
    return {
        "form": form,
        "period": period,
        "defaults": {
            "opens_on": _as_typed(defaults.opens_on),  # type: ignore[arg-type]
            "deadline": _as_typed(defaults.deadline),  # type: ignore[arg-type]
            "cutoff_on": _as_typed(defaults.cutoff_on),  # type: ignore[arg-type]
        },
        "versions": [
            (
                f.version,
                _(
                    "%(version)s (published %(date)s)",
                    version=f.version,
                    date=date_long(f.published_on),
                ),
            )
            for f in service.report_forms(db_session=db)
        ],
    }


def _year_typed(form: FormState, fallback: int) -> int:
    """The year whose defaults the hints show: the one typed, if it is one."""
    typed = form.value("year")
    return int(typed) if _YEAR.fullmatch(typed) else fallback


@router.get("/admin/periods/new")
def new_period_page(request: Request, db: DbSession, user: Admin) -> HTMLResponse:
    year = _suggested_year(db)
    forms = service.report_forms(db_session=db)
    form = form_state(
        {"year": year, "grace_days": 30, "form_version": forms[0].version if forms else ""}
    )
    return render(request, "admin/period_form.html", _form_context(db, form, year))


@router.post("/admin/periods/new")
def new_period(request: Request, posted: PostedForm, db: DbSession, user: Admin) -> Response:
    data, form = validate_form(request, NewPeriodForm, posted)
    if data is not None:
        try:
            period = service.create_period(db_session=db, data=data.period_input(data.year))
        except DomainError as exc:
            form.add_error(exc.field, exc.message)
        else:
            _record(db, user, "period.create", period)
            return redirect(
                request,
                "/admin/periods",
                flash=_(
                    "The reporting period %(year)s has been added: reports are filed from "
                    "%(opens)s to %(deadline)s.",
                    year=period.year,
                    opens=date_long(period.opens_on),
                    deadline=date_long(period.deadline),
                ),
            )
    year = _year_typed(form, _suggested_year(db))
    return render(request, "admin/period_form.html", _form_context(db, form, year), status_code=400)


@router.get("/admin/periods/{year}/edit")
def edit_period_page(request: Request, year: Year, db: DbSession, user: Admin) -> HTMLResponse:
    period = service.get_period(db_session=db, year=year)
    versions = {f.id: f.version for f in service.report_forms(db_session=db)}
    form = form_state(
        {
            "opens_on": _as_typed(period.opens_on),
            "deadline": _as_typed(period.deadline),
            "grace_days": period.grace_days,
            "cutoff_on": _as_typed(period.cutoff_on),
            "form_version": versions.get(period.report_form_id, ""),
        }
    )
    return render(request, "admin/period_form.html", _form_context(db, form, year, period))


@router.post("/admin/periods/{year}/edit")
def edit_period(
    request: Request, year: Year, posted: PostedForm, db: DbSession, user: Admin
) -> Response:
    period = service.get_period(db_session=db, year=year)
    data, form = validate_form(request, PeriodForm, posted)
    if data is not None:
        before = _audited(period)
        try:
            service.update_period(db_session=db, period=period, data=data.period_input(year))
        except DomainError as exc:
            form.add_error(exc.field, exc.message)
        else:
            _record(db, user, "period.update", period, before)
            return redirect(
                request,
                "/admin/periods",
                flash=_("The reporting period %(year)s has been saved.", year=year),
            )
    return render(
        request, "admin/period_form.html", _form_context(db, form, year, period), status_code=400
    )


def _set_closed(
    request: Request, year: int, posted: PostedForm, db: DbSession, user: User, closed: bool
) -> Response:
    period = service.get_period(db_session=db, year=year)
    if not check_csrf(request, posted):
        return redirect(request, "/admin/periods", flash=csrf_error_message(), kind="error")
    before = _audited(period)
    service.set_period_closed(db_session=db, period=period, closed=closed)
    _record(db, user, "period.close" if closed else "period.reopen", period, before)
    if closed:
        message = _(
            "The reporting period %(year)s has been closed: no more reports are accepted for it.",
            year=year,
        )
    else:
        message = _(
            "The reporting period %(year)s has been opened again: reports are accepted.",
            year=year,
        )
    return redirect(request, "/admin/periods", flash=message)


@router.post("/admin/periods/{year}/close")
def close_period(
    request: Request, year: Year, posted: PostedForm, db: DbSession, user: Admin
) -> Response:
    return _set_closed(request, year, posted, db, user, closed=True)


@router.post("/admin/periods/{year}/reopen")
def reopen_period(
    request: Request, year: Year, posted: PostedForm, db: DbSession, user: Admin
) -> Response:
    return _set_closed(request, year, posted, db, user, closed=False)
