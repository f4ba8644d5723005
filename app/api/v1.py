"""The JSON API, version 1. Thin: every endpoint calls the services the HTML pages call, so a rule
can never differ between the two; this file only turns JSON into their inputs and back."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlmodel import Session
from starlette.datastructures import UploadFile

from app.api import idempotency
from app.api.auth import Caller, OperatorCaller, ReviewerCaller
from app.api.problems import PROBLEM_TYPE, ApiProblem, request_language
from app.api.schemas import (
    CertificateOut,
    DecisionForOperator,
    DecisionIn,
    DecisionOut,
    EstablishmentIn,
    EstablishmentOut,
    EstablishmentPage,
    EvidenceOut,
    NoncomplianceItem,
    NoncomplianceList,
    PeriodOut,
    PublicEstablishment,
    RegisterItem,
    RegisterPage,
    ReportIn,
    ReportOut,
    ReviewItemOut,
    ReviewPage,
    SectionAnswers,
    SignatureIn,
    SignatureOut,
    SubmissionOut,
    SubmitIn,
    SubmitOut,
    Verification,
)
from app.auth.models import User
from app.certificates import service as certificates
from app.conduct import service as conduct
from app.conduct.forms import SignatureForm
from app.conduct.models import CodeVersion, Signature
from app.db import DbSession
from app.errors import NotFound
from app.establishments import service as establishments
from app.establishments.forms import EstablishmentForm
from app.establishments.models import Establishment
from app.establishments.standing import latest_signatures, standings
from app.i18n import _, get_locale
from app.jurisdiction import current_scheme
from app.register import service as register
from app.reports import service as reports
from app.reports.evidence import EvidenceRefused, check_upload
from app.reports.form import Figure, ReportFormDefinition, Section
from app.reports.models import AnnualReport, ReportingPeriod, ReportSubmission
from app.reports.views import Upload, read_upload
from app.reviews import service as reviews
from app.reviews.models import ReviewDecision
from app.storage import StorageFull
from app.web import FormModel, RecordId

router = APIRouter(prefix="/api/v1", dependencies=[Depends(request_language)])

Year = Annotated[int, Path(ge=2000, le=2100)]
PageNumber = Annotated[int, Query(ge=1, le=100_000)]
PerPage = Annotated[int, Query(ge=1, le=100)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Send the same key again to retry safely: the first answer is given again.",
    ),
]

DECISION_WORDS = {
    "approve": "approved",
    "request_changes": "changes_requested",
    "reject": "rejected",
}
DECISION_NAMES = {v: k for k, v in DECISION_WORDS.items()}


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The problem answers an endpoint documents."""
    return {
        status: {
            "description": "Problem details (RFC 9457)",
            "content": {PROBLEM_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}},
        }
        for status in statuses
    }


PUBLIC = _problems(404, 422)
SIGNED_IN = _problems(401, 404, 422, 429)
WRITES = _problems(401, 403, 404, 409, 422, 429)


def _pages(total: int, per_page: int) -> int:
    return max(1, math.ceil(total / per_page))


def _refuse_nul(value: Any, where: str = "") -> None:
    """No database stores a NUL character in text; it only ever arrives by accident or attack."""
    if isinstance(value, str) and "\x00" in value:
        raise ApiProblem(
            422,
            "validation_error",
            _("Some values are missing or not valid: see errors."),
            {where or "body": _("Remove the special characters from this field")},
        )
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_nul(str(key), where)
            _refuse_nul(item, f"{where}.{key}" if where else str(key))
    if isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_nul(item, f"{where}.{index}")


def _form(model: type[FormModel], data: dict[str, Any]) -> Any:
    """Check JSON values with the HTML form's own model (the same rules and messages)."""
    _refuse_nul(data)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "body"
            if error["type"] == "value_error":
                errors.setdefault(name, str(error["ctx"]["error"]))
            else:
                errors.setdefault(name, _("Check this value"))
        raise ApiProblem(
            422, "validation_error", _("Some values are missing or not valid: see errors."), errors
        ) from None


# --- public: the register and certificate verification ---------------------------------------------


def _register_items(db: Session, establishment_ids: list[int]) -> list[RegisterItem]:
    """The public register's data for these signatories, in the order given."""
    if not establishment_ids:
        return []
    found = {
        e.id: e
        for e in db.scalars(
            select(Establishment).where(Establishment.id.in_(establishment_ids))  # type: ignore[union-attr]
        )
    }
    signatures = latest_signatures(db, establishment_ids)
    standing = standings(db, establishment_ids)
    approved = dict(
        db.execute(
            select(AnnualReport.establishment_id, func.max(ReportingPeriod.year))
            .join(ReportingPeriod, ReportingPeriod.id == AnnualReport.period_id)  # type: ignore[arg-type]
            .where(
                AnnualReport.establishment_id.in_(establishment_ids),  # type: ignore[attr-defined]
                AnnualReport.state == "approved",
            )
            .group_by(AnnualReport.establishment_id)
        ).all()  # type: ignore[arg-type]
    )
    items = []
    for establishment_id in establishment_ids:
        establishment, signature = found.get(establishment_id), signatures.get(establishment_id)
        if establishment is None or signature is None:
            continue
        certificate = certificates.current_certificate(
            db_session=db, establishment_id=establishment_id
        )
        valid = (
            certificate is not None
            and certificates.status_of(certificate, signature).status
            == certificates.CertificateStatus.VALID
        )
        items.append(
            RegisterItem(
                id=establishment_id,
                ruc=establishment.ruc,
                branch_code=establishment.branch_code,
                trade_name=establishment.trade_name,
                legal_name=establishment.legal_name,
                category=establishment.category,
                region=establishment.region,
                province=establishment.province,
                district=establishment.district,
                signatory_number=signature.signatory_number,
                signed_on=signature.signed_at.date(),
                standing=str(standing[establishment_id]),
                last_approved_year=approved.get(establishment_id),
                certificate_valid_until=certificate.valid_until if valid and certificate else None,
            )
        )
    return items


def _known_region(region: str) -> str:
    if region and current_scheme().region(region) is None:
        raise ApiProblem(
            422,
            "validation_error",
            _("Some values are missing or not valid: see errors."),
            {"region": _("Choose the region")},
        )
    return region


def _known_category(category: str) -> str:
    if category and current_scheme().category(category) is None:
        raise ApiProblem(
            422,
            "validation_error",
            _("Some values are missing or not valid: see errors."),
            {"category": _("Choose the establishment's category")},
        )
    return category


@router.get("/register", response_model=RegisterPage, responses=PUBLIC, tags=["public"])
def register_search(
    db: DbSession,
    q: Annotated[str, Query(max_length=200)] = "",
    region: Annotated[str, Query(max_length=10, description="ISO 3166-2:PE code")] = "",
    category: Annotated[str, Query(max_length=40)] = "",
    standing: Annotated[str, Query(max_length=30)] = "",
    page: PageNumber = 1,
    per_page: PerPage = 20,
) -> RegisterPage:
    """Search the public register of signatories (no token needed)."""
    _refuse_nul(q, "q")
    _known_region(region)
    _known_category(category)
    entries, total = _search(db, q, region, category, standing, page, per_page)
    return RegisterPage(
        items=_register_items(db, [e.id for e in entries]),
        total=total,
        page=page,
        pages=_pages(total, per_page),
    )


def _search(
    db: Session, q: str, region: str, category: str, standing: str, page: int, per_page: int
) -> tuple[list[Any], int]:
    from app.establishments.standing import Standing

    if standing and standing not in {s.value for s in Standing}:
        raise ApiProblem(
            422,
            "validation_error",
            _("Some values are missing or not valid: see errors."),
            {"standing": _("Check this value")},
        )
    found = register.search(
        db_session=db,
        query=register.RegisterQuery(
            q=q, region=region, category=category, standing=standing, page=page
        ),
        per_page=per_page,
        everything=True,
    )
    # A page past the last is empty here (the HTML page shows the last one instead).
    return (found.entries if found.page == page else []), found.total


@router.get(
    "/register/{establishment_id}", response_model=RegisterItem, responses=PUBLIC, tags=["public"]
)
def register_entry(establishment_id: RecordId, db: DbSession) -> RegisterItem:
    """One signatory of the public register."""
    items = _register_items(db, [establishment_id])
    if not items:
        raise NotFound()
    return items[0]


@router.get("/verify/{code}", response_model=Verification, responses=PUBLIC, tags=["public"])
def verify(code: Annotated[str, Path(max_length=200)], db: DbSession) -> Verification:
    """The live status of a certificate of compliance, by the code printed under its QR code."""
    normalised = certificates.normalise_code(code)
    found = certificates.verify(db_session=db, code=normalised) if normalised else None
    if found is None:
        raise NotFound()
    e = found.establishment
    return Verification(
        status=found.live.status.value,  # type: ignore[arg-type]
        certificate_number=found.certificate.number,
        year=found.year,
        issued_on=found.certificate.issued_on,
        valid_until=found.certificate.valid_until,
        revoked_on=found.live.revoked_on,
        signatory_number=found.signatory_number,
        establishment=PublicEstablishment(
            id=e.id,  # type: ignore[arg-type]
            ruc=e.ruc,
            branch_code=e.branch_code,
            trade_name=e.trade_name,
            legal_name=e.legal_name,
            category=e.category,
            region=e.region,
            province=e.province,
            district=e.district,
        ),
    )


# --- establishments and signing --------------------------------------------------------------------


def _establishments_out(db: Session, rows: list[Establishment]) -> list[EstablishmentOut]:
    ids = [e.id for e in rows]
    signatures = latest_signatures(db, ids)  # type: ignore[arg-type]
    standing = standings(db, ids)  # type: ignore[arg-type]
    versions = {v.id: v.version for v in db.scalars(select(CodeVersion))}
    return [
        EstablishmentOut(
            id=e.id,  # type: ignore[arg-type]
            ruc=e.ruc,
            branch_code=e.branch_code,
            legal_name=e.legal_name,
            trade_name=e.trade_name,
            category=e.category,
            region=e.region,
            province=e.province,
            district=e.district,
            address=e.address,
            website=e.website,
            phone=e.phone,
            created_at=e.created_at,
            standing=str(standing[e.id]),  # type: ignore[index]
            signature=_signature_out(signatures[e.id], versions) if e.id in signatures else None,  # type: ignore[index]
        )
        for e in rows
    ]


def _signature_out(signature: Signature, versions: dict[int | None, str]) -> SignatureOut:
    return SignatureOut(
        signatory_number=signature.signatory_number,
        status=signature.status,
        signed_at=signature.signed_at,
        code_version=versions.get(signature.code_version_id, ""),
        representative_name=signature.representative_name,
        document_type=signature.document_type,
    )


@router.get(
    "/establishments", response_model=EstablishmentPage, responses=SIGNED_IN, tags=["operators"]
)
def list_establishments(
    caller: Caller, db: DbSession, page: PageNumber = 1, per_page: PerPage = 50
) -> EstablishmentPage:
    """The establishments the caller may see: an operator's own; a reviewer's region(s)."""
    rows, total = establishments.list_readable(
        db_session=db, user=caller.user, page=page, per_page=per_page
    )
    return EstablishmentPage(
        items=_establishments_out(db, rows), total=total, page=page, pages=_pages(total, per_page)
    )


@router.post(
    "/establishments",
    response_model=EstablishmentOut,
    status_code=201,
    responses=WRITES,
    tags=["operators"],
)
def create_establishment(
    caller: OperatorCaller, db: DbSession, data: EstablishmentIn, response: Response
) -> EstablishmentOut:
    """Register an establishment managed by the caller (duplicate RUC + branch: 409)."""
    values = {k: (v if v is not None else "") for k, v in data.model_dump().items()}
    form = _form(EstablishmentForm, values)
    establishment = establishments.create_establishment(db_session=db, user=caller.user, data=form)
    response.headers["location"] = f"/api/v1/establishments/{establishment.id}"
    return _establishments_out(db, [establishment])[0]


@router.get(
    "/establishments/{establishment_id}",
    response_model=EstablishmentOut,
    responses=SIGNED_IN,
    tags=["operators"],
)
def get_establishment(
    establishment_id: RecordId, caller: Caller, db: DbSession
) -> EstablishmentOut:
    establishment = establishments.get_readable(
        db_session=db, user=caller.user, establishment_id=establishment_id
    )
    return _establishments_out(db, [establishment])[0]


@router.post(
    "/establishments/{establishment_id}/signature",
    response_model=SignatureOut,
    status_code=201,
    responses=WRITES,
    tags=["operators"],
)
def sign(
    request: Request,
    establishment_id: RecordId,
    caller: OperatorCaller,
    db: DbSession,
    data: SignatureIn,
) -> SignatureOut:
    """Sign the Code text in force for an establishment the caller manages."""
    establishments.get_managed(db_session=db, user=caller.user, establishment_id=establishment_id)
    values = {**data.model_dump(), "accept": "yes" if data.accept else ""}
    form = _form(SignatureForm, values)
    signature = conduct.sign(
        db_session=db,
        settings=request.app.state.settings,
        user=caller.user,
        establishment_id=establishment_id,
        data=form,
        language=get_locale(),
    )
    versions = {v.id: v.version for v in db.scalars(select(CodeVersion))}
    return _signature_out(signature, versions)


# --- periods and reports ---------------------------------------------------------------------------


@router.get("/periods", response_model=list[PeriodOut], responses=SIGNED_IN, tags=["operators"])
def list_periods(caller: Caller, db: DbSession) -> list[PeriodOut]:
    """Every reporting period, newest first."""
    return [
        PeriodOut(
            year=p.year,
            opens_on=p.opens_on,
            deadline=p.deadline,
            grace_days=p.grace_days,
            cutoff_on=p.cutoff_on,
            state=reports.period_state(p),  # type: ignore[arg-type]
        )
        for p in reports.list_periods(db_session=db)
    ]


def _figures_out(figures: dict[str, Any]) -> dict[str, Any]:
    # An empty list of rows is "no answer", like every other empty figure: null.
    return {k: (None if v == [] else v) for k, v in figures.items()}


def _submission_out(s: ReportSubmission) -> SubmissionOut:
    return SubmissionOut(
        number=s.number, submitted_at=s.submitted_at, late=s.late, content_sha256=s.content_sha256
    )


def _report_out(
    db: Session,
    establishment: Establishment,
    period: ReportingPeriod,
    report: AnnualReport | None,
) -> ReportOut:
    definition = reports.form_definition(db_session=db, period=period)
    content = report.content if report else definition.empty_content(establishment.category)
    decision = reviews.decision_for_operator(db_session=db, report=report) if report else None
    return ReportOut(
        establishment_id=establishment.id,  # type: ignore[arg-type]
        year=period.year,
        version=report.version if report else 0,
        state=report.state if report else "not_started",  # type: ignore[arg-type]
        sections={
            code: SectionAnswers(
                status=answers.get("status"),
                narrative=answers.get("narrative"),
                figures=_figures_out(answers.get("figures") or {}),
            )
            for code, answers in content["sections"].items()
        },
        problems=definition.problems(establishment.category, content),
        evidence=[
            EvidenceOut.model_validate(e, from_attributes=True)
            for e in (reports.evidence_of(db_session=db, report=report) if report else [])
        ],
        submissions=[
            _submission_out(s)
            for s in (reports.submissions_of(db_session=db, report=report) if report else [])
        ],
        decision=_decision_for_operator(decision),
    )


def _decision_for_operator(decision: ReviewDecision | None) -> DecisionForOperator | None:
    if decision is None:
        return None
    return DecisionForOperator(
        decision=DECISION_NAMES[decision.decision],  # type: ignore[arg-type]
        decided_at=decision.decided_at,
        comment=decision.comment,
        section_comments={str(k): str(v) for k, v in decision.section_comments.items()},
        reason=decision.reason,
    )


def _for_writing(
    db: Session, user: User, establishment_id: int, year: int
) -> tuple[Establishment, ReportingPeriod, AnnualReport | None]:
    establishment = establishments.get_managed(
        db_session=db, user=user, establishment_id=establishment_id
    )
    period = reports.get_period(db_session=db, year=year)
    report = reports.find_report(
        db_session=db,
        establishment_id=establishment_id,
        period_id=period.id,  # type: ignore[arg-type]
    )
    return establishment, period, report


@router.get(
    "/establishments/{establishment_id}/reports/{year}",
    response_model=ReportOut,
    responses=SIGNED_IN,
    tags=["operators"],
)
def get_report(establishment_id: RecordId, year: Year, caller: Caller, db: DbSession) -> ReportOut:
    """The report (a report not started: the empty draft, version 0, every figure null)."""
    establishment = establishments.get_readable(
        db_session=db, user=caller.user, establishment_id=establishment_id
    )
    period = reports.get_period(db_session=db, year=year)
    report = reports.find_report(
        db_session=db,
        establishment_id=establishment_id,
        period_id=period.id,  # type: ignore[arg-type]
    )
    return _report_out(db, establishment, period, report)


_TYPE_MESSAGES = {
    "boolean": lambda: _("Send true or false"),
    "integer": lambda: _("Send a whole number, 0 or more"),
    "decimal": lambda: _("Send a number"),
    "date": lambda: _("Send a date as YYYY-MM-DD"),
    "text": lambda: _("Send text"),
}


def _as_text(figure: Figure, value: Any) -> str:
    """A JSON value as the text the HTML form would post, or ValueError when its type is wrong."""
    if value is None:
        return ""
    kind = figure.type
    ok = (
        (kind == "boolean" and isinstance(value, bool))
        or (kind == "integer" and isinstance(value, int) and not isinstance(value, bool))
        or (kind == "decimal" and isinstance(value, int | float) and not isinstance(value, bool))
        or (kind in ("date", "text") and isinstance(value, str))
    )
    if not ok:
        raise ValueError(_TYPE_MESSAGES.get(kind, lambda: _("Check this value"))())
    if kind == "boolean":
        return "yes" if value else "no"
    if not value and kind in ("date", "text"):
        return ""
    return str(value)


def _posted(
    section: Section, answers: SectionAnswers, where: str
) -> tuple[dict[str, str], dict[str, str]]:
    """A section's JSON answers as the HTML form's fields, and errors in the JSON's own terms."""
    posted = {"status": answers.status or "", "narrative": answers.narrative or ""}
    errors: dict[str, str] = {}
    for key, value in answers.figures.items():
        figure = section.figure(key)
        name = f"{where}.figures.{key}"
        if figure is None:
            errors[name] = _("This report does not ask for this figure")
            continue
        if figure.type != "rows":
            try:
                posted[f"fig-{key}"] = _as_text(figure, value)
            except ValueError as exc:
                errors[name] = str(exc)
            continue
        if value is None:
            continue
        if (
            not isinstance(value, list)
            or len(value) > figure.max_rows
            or not all(isinstance(row, dict) for row in value)
        ):
            errors[name] = _(
                "Send a list of at most %(count)s rows, each an object", count=figure.max_rows
            )
            continue
        columns = {c.key: c for c in figure.columns}
        for index, row in enumerate(value):
            for column_key, cell in row.items():
                column = columns.get(str(column_key))
                if column is None:
                    errors[f"{name}.{index}.{column_key}"] = _(
                        "This report does not ask for this figure"
                    )
                    continue
                try:
                    posted[f"fig-{key}-{index}-{column_key}"] = _as_text(column, cell)
                except ValueError as exc:
                    errors[f"{name}.{index}.{column_key}"] = str(exc)
    return posted, errors


def _json_name(where: str, form_name: str) -> str:
    """A field of the HTML section form (fig-sessions-0-date) named in the JSON (figures.sessions.0.date)."""
    if form_name.startswith("fig-"):
        return f"{where}.figures." + ".".join(form_name[4:].split("-"))
    return f"{where}.{form_name}"


def _parse_sections(
    definition: ReportFormDefinition, category: str, year: int, sent: dict[str, SectionAnswers]
) -> dict[str, dict[str, Any]]:
    """Every section sent, checked by the report form's own rules; all or nothing."""
    values: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    for code, answers in sent.items():
        where = f"sections.{code}"
        section = definition.section(category, code)
        if section is None:
            errors[where] = _("This report has no such section")
            continue
        posted, problems = _posted(section, answers, where)
        errors.update(problems)
        if problems:
            continue
        parsed, form_errors = definition.parse_section(section, posted, year)
        for name, message in form_errors.items():
            errors.setdefault(_json_name(where, name), message)
        values[code] = parsed
    if errors:
        raise ApiProblem(
            422, "validation_error", _("Some values are missing or not valid: see errors."), errors
        )
    return values


def _started(
    db: Session,
    user: User,
    establishment: Establishment,
    period: ReportingPeriod,
    report: AnnualReport | None,
) -> AnnualReport:
    return report or reports.start_report(
        db_session=db, user=user, establishment=establishment, period=period
    )


@router.put(
    "/establishments/{establishment_id}/reports/{year}",
    response_model=ReportOut,
    responses=WRITES,
    tags=["operators"],
)
def put_report(
    establishment_id: RecordId, year: Year, caller: OperatorCaller, db: DbSession, data: ReportIn
) -> ReportOut:
    """Save the answers of the sections sent (each replaces that section's answers), as a draft.

    Send the version read: a report changed since answers 409 and nothing is saved. A report not
    started (version 0) is started by its first PUT.
    """
    _refuse_nul(data.model_dump(), "")
    establishment, period, report = _for_writing(db, caller.user, establishment_id, year)
    if report is None and data.version != 0:
        raise reports.ReportChanged()
    definition = reports.form_definition(db_session=db, period=period)
    values = _parse_sections(definition, establishment.category, year, data.sections)
    read_version = data.version
    if report is None:
        report = _started(db, caller.user, establishment, period, report)
        read_version = report.version
    reports.save_sections(
        db_session=db, user=caller.user, report=report, sections=values, read_version=read_version
    )
    return _report_out(db, establishment, period, report)


@router.post(
    "/establishments/{establishment_id}/reports/{year}/evidence",
    response_model=EvidenceOut,
    status_code=201,
    responses=_problems(401, 403, 404, 409, 413, 422, 429),
    tags=["operators"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["section", "file"],
                        "properties": {
                            "section": {"type": "string", "description": "A section code"},
                            "file": {
                                "type": "string",
                                "format": "binary",
                                "description": "A PDF, JPEG or PNG",
                            },
                        },
                    }
                }
            },
        }
    },
)
def add_evidence(
    request: Request,
    establishment_id: RecordId,
    year: Year,
    caller: OperatorCaller,
    db: DbSession,
    upload: Annotated[Upload, Depends(read_upload)],
) -> EvidenceOut:
    """Attach an evidence file to a section (multipart: `section`, `file`)."""
    establishment, period, report = _for_writing(db, caller.user, establishment_id, year)
    settings = request.app.state.settings
    too_large = _(
        "The file is larger than %(mb)s MB. Attach a smaller file.",
        mb=settings.evidence_max_file_bytes // 1_000_000,
    )
    if upload.too_large or upload.form is None:
        raise ApiProblem(413, "payload_too_large", too_large, {"file": too_large})
    section_code = upload.form.get("section")
    definition = reports.form_definition(db_session=db, period=period)
    if not isinstance(section_code, str) or not definition.section(
        establishment.category, section_code
    ):
        raise ApiProblem(
            422,
            "validation_error",
            _("Some values are missing or not valid: see errors."),
            {"section": _("This report has no such section")},
        )
    file = upload.form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        raise ApiProblem(
            422,
            "validation_error",
            _("Some values are missing or not valid: see errors."),
            {"file": _("Choose a file to attach")},
        )
    report = _started(db, caller.user, establishment, period, report)
    try:
        checked = check_upload(file.file, file.filename, settings.evidence_max_file_bytes)
    except EvidenceRefused as exc:
        status, code = (413, "payload_too_large") if exc.too_large else (422, "invalid_file")
        raise ApiProblem(status, code, str(exc), {"file": str(exc)}) from None
    try:
        evidence = reports.add_evidence(
            db_session=db,
            settings=settings,
            storage=request.app.state.storage,
            user=caller.user,
            report=report,
            section_code=section_code,
            upload=checked,
        )
    except StorageFull:
        raise ApiProblem(
            503,
            "service_unavailable",
            _("The file could not be stored right now. Nothing was changed; try again later."),
            headers={"retry-after": "60"},
        ) from None
    finally:
        checked.file.close()
    return EvidenceOut.model_validate(evidence, from_attributes=True)


async def raw_body(request: Request) -> bytes:
    """The body as sent (what an Idempotency-Key is bound to)."""
    return await request.body()


RawBody = Annotated[bytes, Depends(raw_body)]


def _replay(answer: idempotency.StoredAnswer) -> JSONResponse:
    return JSONResponse(
        answer.body, status_code=answer.status_code, headers={"idempotent-replayed": "true"}
    )


@router.post(
    "/establishments/{establishment_id}/reports/{year}/submit",
    response_model=SubmitOut,
    responses=WRITES,
    tags=["operators"],
)
def submit_report(
    request: Request,
    establishment_id: RecordId,
    year: Year,
    caller: OperatorCaller,
    db: DbSession,
    body: RawBody,
    idempotency_key: IdempotencyKey = None,
    data: Annotated[SubmitIn | None, Body()] = None,
) -> Any:
    """File the report as it stands (an immutable copy with its SHA-256; a receipt by mail)."""
    establishment, period, report = _for_writing(db, caller.user, establishment_id, year)
    record, answer = idempotency.claim(
        db_session=db,
        user_id=caller.user.id,  # type: ignore[arg-type]
        key=idempotency_key,
        method="POST",
        path=request.url.path,
        body=body,
    )
    if answer is not None:
        return _replay(answer)
    if report is None:
        raise ApiProblem(
            422,
            "not_started",
            _("The report cannot be filed yet: fix the problems listed on this page"),
        )
    version = data.version if data is not None and data.version is not None else report.version
    submission = reports.submit(
        db_session=db,
        settings=request.app.state.settings,
        user=caller.user,
        establishment=establishment,
        report=report,
        read_version=version,
    )
    out = SubmitOut(
        establishment_id=establishment_id,
        year=year,
        state=report.state,  # type: ignore[arg-type]
        version=report.version,
        submission=_submission_out(submission),
    )
    idempotency.remember(
        db_session=db, record=record, status_code=200, body=out.model_dump(mode="json")
    )
    return out


@router.get(
    "/establishments/{establishment_id}/certificates/{year}",
    response_class=Response,
    responses={
        200: {
            "description": "The certificate of compliance (PDF), in Spanish or, with "
            "Accept-Language: en, in English",
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
        },
        **SIGNED_IN,
    },
    tags=["operators"],
)
def certificate_pdf(
    request: Request, establishment_id: RecordId, year: Year, caller: Caller, db: DbSession
) -> Response:
    establishments.get_readable(db_session=db, user=caller.user, establishment_id=establishment_id)
    certificate = certificates.for_period(
        db_session=db, establishment_id=establishment_id, year=year
    )
    locale = get_locale() if get_locale() in certificates.LANGUAGES else "es"
    pdf = certificates.pdf_of(
        db_session=db, settings=request.app.state.settings, certificate=certificate, locale=locale
    )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "content-disposition": f'attachment; filename="{certificates.filename_of(certificate, locale)}"',
            "cache-control": "private, no-store",
        },
    )


# --- staff -----------------------------------------------------------------------------------------

QueueState = Annotated[
    str,
    Query(
        pattern="^(|submitted|resubmitted|changes_requested|approved|rejected)$",
        description="Empty: waiting for a decision (submitted or resubmitted)",
    ),
]


@router.get(
    "/reviews",
    response_model=ReviewPage,
    responses=_problems(401, 403, 422, 429),
    tags=["staff"],
)
def review_queue(
    caller: ReviewerCaller,
    db: DbSession,
    period: Annotated[
        int | None, Query(ge=2000, le=2100, description="The year reported on")
    ] = None,
    region: Annotated[str, Query(max_length=10)] = "",
    category: Annotated[str, Query(max_length=40)] = "",
    state: QueueState = "",
    page: PageNumber = 1,
    per_page: PerPage = 25,
) -> ReviewPage:
    """Filed reports of the caller's region(s), oldest filing first."""
    rows, total, counts = reviews.queue(
        db_session=db,
        user=caller.user,
        filters=reviews.QueueFilter(
            year=period,
            region=_known_region(region),
            category=_known_category(category),
            state=state,
        ),
        page=page,
        per_page=per_page,
    )
    return ReviewPage(
        items=[
            ReviewItemOut(
                report_id=r.report.id,  # type: ignore[arg-type]
                establishment_id=r.establishment.id,  # type: ignore[arg-type]
                trade_name=r.establishment.trade_name,
                ruc=r.establishment.ruc,
                branch_code=r.establishment.branch_code,
                region=r.establishment.region,
                category=r.establishment.category,
                year=r.period.year,
                state=r.report.state,  # type: ignore[arg-type]
                submission_number=r.submission.number,
                submitted_at=r.submission.submitted_at,
                late=r.submission.late,
                assigned_to_id=r.report.assigned_to_id,
            )
            for r in rows
        ],
        total=total,
        page=page,
        pages=_pages(total, per_page),
        counts=counts,
    )


@router.post(
    "/reports/{report_id}/decision",
    response_model=DecisionOut,
    responses=WRITES,
    tags=["staff"],
)
def decide(
    request: Request,
    report_id: RecordId,
    caller: ReviewerCaller,
    db: DbSession,
    body: RawBody,
    data: DecisionIn,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Approve, request changes (a comment and at least one section comment) or reject (a reason
    and a comment) the latest submission. A decision already taken answers 409."""
    item = reviews.get_for_review(db_session=db, user=caller.user, report_id=report_id)
    record, answer = idempotency.claim(
        db_session=db,
        user_id=caller.user.id,  # type: ignore[arg-type]
        key=idempotency_key,
        method="POST",
        path=request.url.path,
        body=body,
    )
    if answer is not None:
        return _replay(answer)
    _refuse_nul(data.model_dump(), "")
    codes = {s.code for s in reviews_sections(db, item)}
    unknown = {k for k in data.section_comments if k not in codes}
    if unknown:
        raise ApiProblem(
            422,
            "validation_error",
            _("Some values are missing or not valid: see errors."),
            {f"section_comments.{k}": _("This report has no such section") for k in unknown},
        )
    latest = item.latest
    assert latest is not None
    decision = reviews.decide(
        db_session=db,
        settings=request.app.state.settings,
        user=caller.user,
        item=item,
        data=reviews.DecisionInput(
            decision=DECISION_WORDS[data.decision],
            submission_number=data.submission or latest.number,
            comment=data.comment.strip(),
            reason=data.reason.strip(),
            section_comments=data.section_comments,
        ),
    )
    certificate = None
    if decision.decision == "approved":
        issued = certificates.for_period(
            db_session=db,
            establishment_id=item.establishment.id,
            year=item.period.year,  # type: ignore[arg-type]
        )
        certificate = CertificateOut(
            number=issued.number,
            issued_on=issued.issued_on,
            valid_until=issued.valid_until,
            verification_code=issued.code,
        )
    out = DecisionOut(
        report_id=report_id,
        decision=data.decision,
        state=item.report.state,  # type: ignore[arg-type]
        submission_number=latest.number,
        decided_at=decision.decided_at,
        certificate=certificate,
    )
    idempotency.remember(
        db_session=db, record=record, status_code=200, body=out.model_dump(mode="json")
    )
    return out


def reviews_sections(db: Session, item: reviews.ReviewItem) -> list[Section]:
    definition = reports.form_definition(db_session=db, period=item.period)
    return definition.sections_for(item.establishment.category)


@router.get(
    "/noncompliance",
    response_model=NoncomplianceList,
    responses={
        200: {
            "description": "The list as JSON, or as CSV with Accept: text/csv",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        **_problems(401, 403, 404, 409, 422, 429),
    },
    tags=["staff"],
)
def noncompliance_list(
    request: Request,
    caller: ReviewerCaller,
    db: DbSession,
    period: Annotated[int, Query(ge=2000, le=2100, description="The year reported on")],
    region: Annotated[str, Query(max_length=10)] = "",
    category: Annotated[str, Query(max_length=40)] = "",
    reason: Annotated[str, Query(pattern="^(|no_report|changes_not_answered|rejected)$")] = "",
) -> Any:
    """The non-compliance list of a period in the caller's region(s) (409 before the grace period
    has ended)."""
    from app.audit import service as audit
    from app.noncompliance import service as noncompliance
    from app.noncompliance.views import csv_labels, csv_lines

    reporting_period = reports.get_period(db_session=db, year=period)
    filters = noncompliance.ListFilter(
        region=_known_region(region), category=_known_category(category), reason=reason
    )
    try:
        noncompliance.check_ready(reporting_period)
    except noncompliance.ListNotReady as exc:
        raise ApiProblem(409, "list_not_ready", exc.message) from None
    rows = noncompliance.page_of_rows(
        db_session=db, user=caller.user, period=reporting_period, filters=filters
    )
    if "text/csv" in request.headers.get("accept", ""):
        audit.record(
            db_session=db,
            actor=caller.user,
            action="noncompliance.export",
            object_type="reporting_period",
            object_id=reporting_period.id,
            region=region or None,
            summary=f"Non-compliance list {period} (CSV via API, {len(rows)} rows)",
            after={
                "format": "csv",
                "year": period,
                "region": region or None,
                "category": category or None,
                "reason": reason or None,
                "rows": len(rows),
            },
        )
        return Response(
            b"".join(csv_lines(iter(rows), csv_labels())),
            media_type="text/csv; charset=utf-8",
            headers={
                "content-disposition": f'attachment; filename="noncompliance-{period}.csv"',
                "cache-control": "no-store",
            },
        )
    return NoncomplianceList(
        year=period,
        total=len(rows),
        items=[NoncomplianceItem.model_validate(r, from_attributes=True) for r in rows],
    )
