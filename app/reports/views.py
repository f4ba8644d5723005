"""Operators' report pages: which reports are due, filling a report section by section, evidence,
the summary with what to fix, filing, and the receipts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from starlette.datastructures import FormData, UploadFile

from app.auth.dependencies import SignedInUser, require
from app.auth.models import User
from app.auth.roles import Permission
from app.clock import today
from app.db import DbSession
from app.errors import DomainError, NotFound
from app.establishments import service as establishments
from app.establishments.models import Establishment
from app.i18n import _, get_locale
from app.reports import (
    labels,  # noqa: F401  (template filters)
    service,
)
from app.reports.evidence import EvidenceRefused, check_upload
from app.reports.form import STATUSES, ReportFormDefinition, Section
from app.reports.models import AnnualReport, Evidence, ReportingPeriod
from app.reports.pdf import receipt_pdf
from app.reviews.service import decision_for_operator
from app.storage import StorageFull, content_disposition
from app.web import (
    FormState,
    PostedForm,
    RecordId,
    check_csrf,
    csrf_error_message,
    form_state,
    redirect,
    render,
)

router = APIRouter()
Operator = Annotated[User, Depends(require(Permission.MANAGE_OWN_ESTABLISHMENTS))]
Year = Annotated[int, Path(ge=2000, le=2100)]
SectionCode = Annotated[str, Path(max_length=40, pattern=r"^[a-z_]+$")]


def _base(establishment_id: int, year: int) -> str:
    return f"/establishments/{establishment_id}/reports/{year}"


# --- the chain table ---------------------------------------------------------------------------


@router.get("/reports")
def reports_table(request: Request, db: DbSession, user: Operator) -> HTMLResponse:
    """One table of every establishment the operator manages and the state of each report."""
    managed, _total = establishments.list_readable(db_session=db, user=user, per_page=1000)
    periods = [
        p for p in service.list_periods(db_session=db) if service.period_state(p) != "upcoming"
    ][:3]
    reports = service.reports_by_period(
        db_session=db,
        establishment_ids=[e.id for e in managed],  # type: ignore[misc]
        period_ids=[p.id for p in periods],  # type: ignore[misc]
    )
    due = {
        e.id: {p.id for p in service.periods_due(db_session=db, establishment=e)} for e in managed
    }
    rows = []
    for establishment in managed:
        cells = []
        for period in periods:
            report = reports.get((establishment.id, period.id))  # type: ignore[arg-type]
            cells.append(
                {
                    "period": period,
                    "due": period.id in due[establishment.id],
                    "state": report.state if report else "not_started",
                }
            )
        rows.append({"establishment": establishment, "cells": cells})
    return render(request, "reports/table.html", {"rows": rows, "periods": periods})


# --- one report ----------------------------------------------------------------------------------


@dataclass
class ReportPage:
    establishment: Establishment
    period: ReportingPeriod
    report: AnnualReport | None
    definition: ReportFormDefinition
    can_edit: bool


def _load(
    db: DbSession, user: User, establishment_id: int, year: int, *, manage: bool
) -> ReportPage:
    """The report of an establishment the user may see (or manage), or NotFound."""
    if manage:
        establishment = establishments.get_managed(
            db_session=db, user=user, establishment_id=establishment_id
        )
    else:
        establishment = establishments.get_readable(
            db_session=db, user=user, establishment_id=establishment_id
        )
    period = service.get_period(db_session=db, year=year)
    report = service.find_report(
        db_session=db, establishment_id=establishment_id, period_id=period.id
    )  # type: ignore[arg-type]
    can_edit = (
        establishments.manages(db_session=db, user=user, establishment=establishment)
        and (report is None or report.state in service.EDITABLE)
        and service.period_state(period) not in ("closed", "upcoming")
    )
    return ReportPage(
        establishment,
        period,
        report,
        service.form_definition(db_session=db, period=period),
        can_edit,
    )


def _overview_context(db: DbSession, page: ReportPage) -> dict[str, Any]:
    category = page.establishment.category
    sections = page.definition.sections_for(category)
    report = page.report
    problems = page.definition.problems(category, report.content) if report else {}
    evidence = service.evidence_of(db_session=db, report=report) if report else []
    return {
        "establishment": page.establishment,
        "period": page.period,
        "period_state": service.period_state(page.period),
        "grace_ends_on": service.grace_ends_on(page.period),
        "report": report,
        "sections": sections,
        "problems": problems,
        "evidence": evidence,
        "submissions": service.submissions_of(db_session=db, report=report) if report else [],
        "can_edit": page.can_edit,
        "must_file": any(
            p.id == page.period.id
            for p in service.periods_due(db_session=db, establishment=page.establishment)
        ),
        "has_previous": service.previous_report(
            db_session=db, establishment=page.establishment, period=page.period
        )
        is not None,
        "today": today(),
        "decision": decision_for_operator(db_session=db, report=report) if report else None,
    }


@router.get("/establishments/{establishment_id}/reports/{year}")
def report_overview(
    request: Request, establishment_id: RecordId, year: Year, db: DbSession, user: SignedInUser
) -> HTMLResponse:
    page = _load(db, user, establishment_id, year, manage=False)
    return render(
        request, "reports/overview.html", {**_overview_context(db, page), "form": form_state()}
    )


@router.post("/establishments/{establishment_id}/reports/{year}/start")
def start(
    request: Request,
    establishment_id: RecordId,
    year: Year,
    posted: PostedForm,
    db: DbSession,
    user: Operator,
) -> Response:
    page = _load(db, user, establishment_id, year, manage=True)
    form = form_state()
    if not check_csrf(request, posted):
        form.add_error("form", csrf_error_message())
    else:
        try:
            service.start_report(
                db_session=db,
                user=user,
                establishment=page.establishment,
                period=page.period,
                from_previous=posted.get("from_previous") == "yes",
            )
        except DomainError as exc:
            form.add_error("form", exc.message)
        else:
            return redirect(request, _base(establishment_id, year))
    return render(
        request,
        "reports/overview.html",
        {**_overview_context(db, page), "form": form},
        status_code=400,
    )


# --- a section -----------------------------------------------------------------------------------


def _section_or_404(page: ReportPage, code: str) -> Section:
    section = page.definition.section(page.establishment.category, code)
    if section is None or page.report is None:
        raise NotFound()
    return section


def section_values(section: Section, answers: dict[str, Any]) -> dict[str, str]:
    """The stored answers as the text the form fields show."""
    figures = answers.get("figures") or {}
    values = {"status": answers.get("status") or "", "narrative": answers.get("narrative") or ""}
    for figure in section.figures:
        value = figures.get(figure.key)
        if figure.type == "rows":
            for index, row in enumerate(value or []):
                for column in figure.columns:
                    cell = row.get(column.key)
                    values[f"fig-{figure.key}-{index}-{column.key}"] = (
                        "" if cell is None else _as_text(cell)
                    )
        elif figure.type == "boolean":
            values[f"fig-{figure.key}"] = "" if value is None else ("yes" if value else "no")
        else:
            values[f"fig-{figure.key}"] = "" if value is None else _as_text(value)
    return values


def _as_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _row_count(section: Section, values: dict[str, str]) -> dict[str, int]:
    """How many rows each repeating figure shows: those filled in plus two empty ones."""
    counts = {}
    for figure in section.figures:
        if figure.type == "rows":
            used = {
                k.split("-")[2]
                for k, v in values.items()
                if k.startswith(f"fig-{figure.key}-") and v
            }
            counts[figure.key] = min(
                figure.max_rows, (max((int(i) for i in used), default=-1) + 1) + 2
            )
    return counts


def _section_page(
    request: Request,
    db: DbSession,
    page: ReportPage,
    section: Section,
    form: FormState,
    status_code: int = 200,
) -> HTMLResponse:
    assert page.report is not None
    evidence = [
        e
        for e in service.evidence_of(db_session=db, report=page.report)
        if e.section == section.code
    ]
    settings = request.app.state.settings
    return render(
        request,
        "reports/section.html",
        {
            "establishment": page.establishment,
            "period": page.period,
            "report": page.report,
            "section": section,
            "form": form,
            "rows": _row_count(section, form.values),
            "evidence": evidence,
            "can_edit": page.can_edit,
            "max_file_mb": settings.evidence_max_file_bytes // 1_000_000,
            "max_report_mb": settings.evidence_max_report_bytes // 1_000_000,
            "narrative_max": page.definition.narrative_max,
            "status_options": [(s, labels.report_status(s)) for s in STATUSES],
            "decision": decision_for_operator(db_session=db, report=page.report),
        },
        status_code=status_code,
    )


@router.get("/establishments/{establishment_id}/reports/{year}/sections/{code}")
def section_page(
    request: Request,
    establishment_id: RecordId,
    year: Year,
    code: SectionCode,
    db: DbSession,
    user: SignedInUser,
) -> HTMLResponse:
    page = _load(db, user, establishment_id, year, manage=False)
    section = _section_or_404(page, code)
    answers = page.report.content["sections"].get(code, {})  # type: ignore[union-attr]
    form = form_state(section_values(section, answers))
    form.values["version"] = str(page.report.version)  # type: ignore[union-attr]
    return _section_page(request, db, page, section, form)


@router.post("/establishments/{establishment_id}/reports/{year}/sections/{code}")
def save_section(
    request: Request,
    establishment_id: RecordId,
    year: Year,
    code: SectionCode,
    posted: PostedForm,
    db: DbSession,
    user: Operator,
) -> Response:
    page = _load(db, user, establishment_id, year, manage=True)
    section = _section_or_404(page, code)
    raw = {k: v for k, v in posted.multi_items() if isinstance(v, str)}
    form = FormState(values={k: v.strip() for k, v in raw.items() if k != "csrf_token"})
    if not check_csrf(request, posted):
        form.add_error("form", csrf_error_message())
        return _section_page(request, db, page, section, form, 400)
    values, errors = page.definition.parse_section(section, raw, page.period.year)
    for name, message in errors.items():
        form.add_error(name, message)
    if not form.has_errors:
        try:
            service.save_section(
                db_session=db,
                user=user,
                report=page.report,  # type: ignore[arg-type]
                section_code=code,
                values=values,
                read_version=_version(posted),
            )
        except service.ReportChanged as exc:
            # Show what is saved now, and the message; what they typed is lost only here, and they are told.
            form = form_state(
                section_values(section, page.report.content["sections"].get(code, {}))
            )  # type: ignore[union-attr]
            form.values["version"] = str(page.report.version)  # type: ignore[union-attr]
            form.add_error("form", exc.message)
            return _section_page(request, db, page, section, form, 409)
        except DomainError as exc:
            form.add_error(exc.field, exc.message)
        else:
            return redirect(
                request,
                _base(establishment_id, year),
                flash=_(
                    "Saved: %(section)s. You can come back and change it until you file the report.",
                    section=section.title,
                ),
            )
    return _section_page(request, db, page, section, form, 400)


def _version(posted: FormData) -> int:
    raw = posted.get("version")
    return int(raw) if isinstance(raw, str) and raw.isdigit() and len(raw) < 10 else -1


# --- evidence --------------------------------------------------------------------------------------


@dataclass
class Upload:
    form: FormData | None
    too_large: bool


async def read_upload(request: Request) -> Upload:
    """Refuse an upload that says it is too big before reading any of it."""
    limit = request.app.state.settings.evidence_max_file_bytes + 64 * 1024
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        return Upload(form=None, too_large=True)
    return Upload(form=await request.form(max_files=1, max_fields=10), too_large=False)


@router.post("/establishments/{establishment_id}/reports/{year}/sections/{code}/evidence")
def upload_evidence(
    request: Request,
    establishment_id: RecordId,
    year: Year,
    code: SectionCode,
    upload: Annotated[Upload, Depends(read_upload)],
    db: DbSession,
    user: Operator,
) -> Response:
    page = _load(db, user, establishment_id, year, manage=True)
    section = _section_or_404(page, code)
    settings = request.app.state.settings
    form = form_state(section_values(section, page.report.content["sections"].get(code, {})))  # type: ignore[union-attr]
    form.values["version"] = str(page.report.version)  # type: ignore[union-attr]
    max_mb = settings.evidence_max_file_bytes // 1_000_000
    if upload.too_large or upload.form is None:
        form.add_error(
            "file", _("The file is larger than %(mb)s MB. Attach a smaller file.", mb=max_mb)
        )
        return _section_page(request, db, page, section, form, 413)
    if not check_csrf(request, upload.form):
        form.add_error("form", csrf_error_message())
        return _section_page(request, db, page, section, form, 400)
    file = upload.form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        form.add_error("file", _("Choose a file to attach"))
        return _section_page(request, db, page, section, form, 400)
    try:
        checked = check_upload(file.file, file.filename, settings.evidence_max_file_bytes)
        try:
            evidence = service.add_evidence(
                db_session=db,
                settings=settings,
                storage=request.app.state.storage,
                user=user,
                report=page.report,  # type: ignore[arg-type]
                section_code=code,
                upload=checked,
            )
        finally:
            checked.file.close()
    except EvidenceRefused as exc:
        form.add_error("file", str(exc))
    except StorageFull:
        form.add_error(
            "file",
            _("The file could not be stored right now. Nothing was changed; try again later."),
        )
    except DomainError as exc:
        form.add_error("file", exc.message)
    else:
        return redirect(
            request,
            f"{_base(establishment_id, year)}/sections/{code}#evidence",
            flash=_("%(name)s is attached.", name=evidence.filename),
        )
    return _section_page(request, db, page, section, form, 400)


@router.post("/establishments/{establishment_id}/reports/{year}/evidence/{evidence_id}/remove")
def remove_evidence(
    request: Request,
    establishment_id: RecordId,
    year: Year,
    evidence_id: RecordId,
    posted: PostedForm,
    db: DbSession,
    user: Operator,
) -> Response:
    page = _load(db, user, establishment_id, year, manage=True)
    if page.report is None:
        raise NotFound()
    target = db.get(Evidence, evidence_id)
    if target is None or target.report_id != page.report.id:
        raise NotFound()
    back = f"{_base(establishment_id, year)}/sections/{target.section}#evidence"
    if not check_csrf(request, posted):
        return redirect(request, back, flash=csrf_error_message(), kind="error")
    try:
        removed = service.remove_evidence(
            db_session=db, report=page.report, evidence_id=evidence_id
        )
    except DomainError as exc:
        return redirect(request, back, flash=exc.message, kind="error")
    return redirect(
        request, back, flash=_("%(name)s was removed.", name=removed.filename), kind="info"
    )


@router.get("/establishments/{establishment_id}/reports/{year}/evidence/{evidence_id}")
def evidence_file(
    request: Request,
    establishment_id: RecordId,
    year: Year,
    evidence_id: RecordId,
    db: DbSession,
    user: SignedInUser,
) -> Response:
    """The file, shown in the browser; only to its operators and to reviewers who may see the establishment."""
    page = _load(db, user, establishment_id, year, manage=False)
    evidence = db.get(Evidence, evidence_id)
    if page.report is None or evidence is None or evidence.report_id != page.report.id:
        raise NotFound()
    return StreamingResponse(
        request.app.state.storage.read(evidence.storage_key),
        media_type=evidence.content_type,
        headers={
            "content-disposition": content_disposition("inline", evidence.filename),
            "cache-control": "private, no-store",
            "content-security-policy": "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox",
            "content-length": str(evidence.size),
        },
    )


# --- summary, filing, receipts ---------------------------------------------------------------------


@router.get("/establishments/{establishment_id}/reports/{year}/summary")
def summary(
    request: Request, establishment_id: RecordId, year: Year, db: DbSession, user: SignedInUser
) -> HTMLResponse:
    page = _load(db, user, establishment_id, year, manage=False)
    if page.report is None:
        raise NotFound()
    return render(
        request, "reports/summary.html", {**_overview_context(db, page), "form": form_state()}
    )


@router.post("/establishments/{establishment_id}/reports/{year}/submit")
def submit(
    request: Request,
    establishment_id: RecordId,
    year: Year,
    posted: PostedForm,
    db: DbSession,
    user: Operator,
) -> Response:
    page = _load(db, user, establishment_id, year, manage=True)
    if page.report is None:
        raise NotFound()
    form = form_state()
    if not check_csrf(request, posted):
        form.add_error("form", csrf_error_message())
    elif posted.get("confirm") != "yes":
        form.add_error("confirm", _("Confirm that the information is true and complete"))
    else:
        try:
            submission = service.submit(
                db_session=db,
                settings=request.app.state.settings,
                user=user,
                establishment=page.establishment,
                report=page.report,
                read_version=_version(posted),
            )
        except DomainError as exc:
            form.add_error("form", exc.message)
        else:
            message = _(
                "Your report for %(year)s has been filed on %(when)s. We have sent you the receipt by e-mail.",
                year=year,
                when=labels.date_long(submission.submitted_at),
            )
            return redirect(request, _base(establishment_id, year), flash=message)
    page = _load(db, user, establishment_id, year, manage=True)
    return render(
        request,
        "reports/summary.html",
        {**_overview_context(db, page), "form": form},
        status_code=400,
    )


@router.get("/establishments/{establishment_id}/reports/{year}/submissions/{number}/receipt.pdf")
def receipt(
    request: Request,
    establishment_id: RecordId,
    year: Year,
    number: RecordId,
    db: DbSession,
    user: SignedInUser,
) -> Response:
    page = _load(db, user, establishment_id, year, manage=False)
    if page.report is None:
        raise NotFound()
    submission = next(
        (
            s
            for s in service.submissions_of(db_session=db, report=page.report)
            if s.number == number
        ),
        None,
    )
    if submission is None:
        raise NotFound()
    return Response(
        receipt_pdf(submission=submission, locale=get_locale()),
        media_type="application/pdf",
        headers={
            "content-disposition": f'attachment; filename="constancia-{year}-{page.establishment.ruc}-{page.establishment.branch_code}-{number}.pdf"',
            "cache-control": "no-store",
        },
    )
