"""Reporting periods, who must file, and the life of an annual report: draft, evidence, submission."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.auth.models import User
from app.clock import lima_date, today
from app.conduct.models import Signature
from app.config import Settings
from app.db import utcnow
from app.errors import Conflict, DomainError, NotFound, TooLarge
from app.establishments import service as establishments
from app.establishments.models import Establishment
from app.i18n import _
from app.jurisdiction import current_scheme
from app.reports.evidence import CheckedFile
from app.reports.form import ReportFormDefinition
from app.reports.models import (
    AnnualReport,
    Evidence,
    ReportForm,
    ReportingPeriod,
    ReportSubmission,
)
from app.storage import EvidenceStorage

EDITABLE = ("draft", "changes_requested")
IN_FORCE = ("active", "suspended")


class ReportChanged(Conflict):
    """Someone saved the report after this person opened it."""

    code = "stale_version"

    def __init__(self) -> None:
        super().__init__(
            _(
                "This report changed since you opened it (someone else saved it). Nothing of "
                "yours was saved: check the current answers below and enter your changes again."
            )
        )


# --- report forms and periods ------------------------------------------------------------------


def sync_report_forms(*, db_session: Session) -> list[str]:
    """Add the versions of the report form in the scheme's data set that the database lacks."""
    stored = set(db_session.scalars(select(ReportForm.version)))
    added = []
    for content in current_scheme().report_forms:
        if content["version"] not in stored:
            db_session.add(
                ReportForm(
                    version=content["version"],
                    published_on=date.fromisoformat(content["published_on"]),
                    content=content,
                )
            )
            added.append(content["version"])
    db_session.flush()
    return added


def report_forms(*, db_session: Session) -> list[ReportForm]:
    return list(db_session.scalars(select(ReportForm).order_by(ReportForm.published_on.desc())))  # type: ignore[attr-defined]


def form_definition(*, db_session: Session, period: ReportingPeriod) -> ReportFormDefinition:
    form = db_session.get(ReportForm, period.report_form_id)
    assert form is not None
    return ReportFormDefinition(form.content)


@dataclass
class PeriodInput:
    year: int
    opens_on: date | None = None
    deadline: date | None = None
    grace_days: int = 30
    cutoff_on: date | None = None
    form_version: str | None = None

    def resolved(self) -> PeriodInput:
        """Fill in the defaults: filed from 1 January to 31 March of the next year, cut-off 31 December."""
        return PeriodInput(
            year=self.year,
            opens_on=self.opens_on or date(self.year + 1, 1, 1),
            deadline=self.deadline or date(self.year + 1, 3, 31),
            grace_days=self.grace_days,
            cutoff_on=self.cutoff_on or date(self.year, 12, 31),
            form_version=self.form_version,
        )


def _check_year(year: int) -> None:
    if not 2018 <= year <= 2100:
        raise DomainError(_("Enter a year between 2018 and 2100"), "year")


def _check_period(data: PeriodInput) -> None:
    assert data.opens_on and data.deadline and data.cutoff_on
    if data.deadline < data.opens_on:
        raise DomainError(_("The deadline must be on or after the opening date"), "deadline")
    if not 0 <= data.grace_days <= 365:
        raise DomainError(
            _("Enter the grace period as a number of days from 0 to 365"), "grace_days"
        )
    if data.cutoff_on > data.deadline:
        raise DomainError(_("The cut-off date must be on or before the deadline"), "cutoff_on")


def _form_by_version(db_session: Session, version: str | None) -> ReportForm:
    forms = report_forms(db_session=db_session)
    if not forms:
        raise RuntimeError("No report form is stored: run `portal db upgrade`")
    if version is None:
        return forms[0]
    for form in forms:
        if form.version == version:
            return form
    raise DomainError(_("Choose a version of the report form"), "form_version")


def create_period(*, db_session: Session, data: PeriodInput) -> ReportingPeriod:
    _check_year(data.year)
    data = data.resolved()
    _check_period(data)
    form = _form_by_version(db_session, data.form_version)
    duplicate = _("There is already a reporting period for %(year)s", year=data.year)
    if db_session.scalars(select(ReportingPeriod).where(ReportingPeriod.year == data.year)).first():
        raise DomainError(duplicate, "year")
    period = ReportingPeriod(
        year=data.year,
        opens_on=data.opens_on,  # type: ignore[arg-type]
        deadline=data.deadline,  # type: ignore[arg-type]
        grace_days=data.grace_days,
        cutoff_on=data.cutoff_on,  # type: ignore[arg-type]
        report_form_id=form.id,  # type: ignore[arg-type]
    )
    try:
        with db_session.begin_nested():
            db_session.add(period)
            db_session.flush()
    except IntegrityError:
        raise DomainError(duplicate, "year") from None
    return period


def update_period(
    *, db_session: Session, period: ReportingPeriod, data: PeriodInput
) -> ReportingPeriod:
    """Change a period's dates, grace or form; the form only while no report has been started."""
    data = PeriodInput(**{**data.__dict__, "year": period.year}).resolved()
    _check_period(data)
    form = _form_by_version(db_session, data.form_version)
    if form.id != period.report_form_id and _reports_started(db_session, period):
        raise DomainError(
            _(
                "Reports have already been started with this version of the form; it cannot change now"
            ),
            "form_version",
        )
    period.opens_on, period.deadline = data.opens_on, data.deadline  # type: ignore[assignment]
    period.grace_days, period.cutoff_on = data.grace_days, data.cutoff_on  # type: ignore[assignment]
    period.report_form_id = form.id  # type: ignore[assignment]
    db_session.flush()
    return period


def _reports_started(db_session: Session, period: ReportingPeriod) -> bool:
    return bool(
        db_session.scalar(
            select(func.count())
            .select_from(AnnualReport)
            .where(AnnualReport.period_id == period.id)
        )
    )


def set_period_closed(*, db_session: Session, period: ReportingPeriod, closed: bool) -> None:
    """Close a period (no more filings accepted) or open it again."""
    period.closed_at = utcnow() if closed else None
    db_session.flush()


def list_periods(*, db_session: Session) -> list[ReportingPeriod]:
    return list(db_session.scalars(select(ReportingPeriod).order_by(ReportingPeriod.year.desc())))  # type: ignore[attr-defined]


def get_period(*, db_session: Session, year: int) -> ReportingPeriod:
    period = db_session.scalars(select(ReportingPeriod).where(ReportingPeriod.year == year)).first()
    if period is None:
        raise NotFound()
    return period


def period_state(period: ReportingPeriod, on: date | None = None) -> str:
    """upcoming, open, late (past the deadline, still accepted), closed."""
    on = on or today()
    if period.closed_at is not None:
        return "closed"
    if on < period.opens_on:
        return "upcoming"
    if on <= period.deadline:
        return "open"
    return "late"


def grace_ends_on(period: ReportingPeriod) -> date:
    return period.deadline + timedelta(days=period.grace_days)


# --- who must file -----------------------------------------------------------------------------


def must_file(signature: Signature | None, period: ReportingPeriod) -> bool:
    """An establishment files for a period when it was a signatory on the period's cut-off date."""
    return (
        signature is not None
        and signature.status in IN_FORCE
        and lima_date(signature.signed_at) <= period.cutoff_on
    )


def _signature_in_force(db_session: Session, establishment_id: int) -> Signature | None:
    return db_session.scalars(
        select(Signature).where(
            Signature.establishment_id == establishment_id,
            Signature.status.in_(IN_FORCE),  # type: ignore[attr-defined]
        )
    ).first()


def periods_due(*, db_session: Session, establishment: Establishment) -> list[ReportingPeriod]:
    """The periods this establishment must file for that have opened, newest first."""
    signature = _signature_in_force(db_session, establishment.id)  # type: ignore[arg-type]
    return [
        p
        for p in list_periods(db_session=db_session)
        if p.opens_on <= today() and must_file(signature, p)
    ]


def obliged_establishment_ids(*, db_session: Session, period: ReportingPeriod) -> list[int]:
    """Every establishment that must file for the period."""
    # Signed on or before the cut-off in Lima: before 05:00 UTC of the next day.
    limit = _lima_midnight_after(period.cutoff_on)
    return list(
        db_session.scalars(
            select(Signature.establishment_id)
            .where(Signature.status.in_(IN_FORCE), Signature.signed_at < limit)  # type: ignore[attr-defined]
            .order_by(Signature.establishment_id)
        )
    )


def _lima_midnight_after(day: date):  # type: ignore[no-untyped-def]
    from datetime import datetime

    from app.clock import LIMA

    return datetime(day.year, day.month, day.day, tzinfo=LIMA) + timedelta(days=1)


# --- reports -----------------------------------------------------------------------------------


def find_report(
    *, db_session: Session, establishment_id: int, period_id: int
) -> AnnualReport | None:
    return db_session.scalars(
        select(AnnualReport).where(
            AnnualReport.establishment_id == establishment_id, AnnualReport.period_id == period_id
        )
    ).first()


def reports_by_period(
    *, db_session: Session, establishment_ids: list[int], period_ids: list[int]
) -> dict[tuple[int, int], AnnualReport]:
    if not establishment_ids or not period_ids:
        return {}
    rows = db_session.scalars(
        select(AnnualReport).where(
            AnnualReport.establishment_id.in_(establishment_ids),  # type: ignore[attr-defined]
            AnnualReport.period_id.in_(period_ids),  # type: ignore[attr-defined]
        )
    )
    return {(r.establishment_id, r.period_id): r for r in rows}


def _check_can_file(
    db_session: Session, establishment: Establishment, period: ReportingPeriod
) -> None:
    if period_state(period) == "upcoming":
        raise DomainError(
            _(
                "Filing for %(year)s opens on %(date)s",
                year=period.year,
                date=period.opens_on.strftime("%d/%m/%Y"),
            )
        )
    if period_state(period) == "closed":
        raise DomainError(_closed_message(period))
    signature = _signature_in_force(db_session, establishment.id)  # type: ignore[arg-type]
    if not must_file(signature, period):
        raise DomainError(
            _(
                "This establishment does not have to file a report for %(year)s: it was not a "
                "signatory of the Code on %(date)s",
                year=period.year,
                date=period.cutoff_on.strftime("%d/%m/%Y"),
            )
        )


def start_report(
    *,
    db_session: Session,
    user: User,
    establishment: Establishment,
    period: ReportingPeriod,
    from_previous: bool = False,
) -> AnnualReport:
    """Open the establishment's report for the period (once), empty or pre-filled from last year."""
    existing = find_report(
        db_session=db_session, establishment_id=establishment.id, period_id=period.id
    )  # type: ignore[arg-type]
    if existing is not None:
        return existing
    _check_can_file(db_session, establishment, period)
    definition = form_definition(db_session=db_session, period=period)
    content = definition.empty_content(establishment.category)
    if from_previous:
        previous = previous_report(
            db_session=db_session, establishment=establishment, period=period
        )
        if previous is not None:
            content = definition.prefill_from(establishment.category, previous.content)
    report = AnnualReport(
        establishment_id=establishment.id,  # type: ignore[arg-type]
        period_id=period.id,  # type: ignore[arg-type]
        content=content,
        updated_by_id=user.id,
    )
    try:
        with db_session.begin_nested():
            db_session.add(report)
            db_session.flush()
    except IntegrityError:
        # Started at the same moment by someone else: there is one report, use it.
        found = find_report(
            db_session=db_session, establishment_id=establishment.id, period_id=period.id
        )  # type: ignore[arg-type]
        assert found is not None
        return found
    return report


def previous_report(
    *, db_session: Session, establishment: Establishment, period: ReportingPeriod
) -> AnnualReport | None:
    """The establishment's report of the latest earlier period."""
    return db_session.scalars(
        select(AnnualReport)
        .join(ReportingPeriod, ReportingPeriod.id == AnnualReport.period_id)  # type: ignore[arg-type]
        .where(
            AnnualReport.establishment_id == establishment.id, ReportingPeriod.year < period.year
        )
        .order_by(ReportingPeriod.year.desc())  # type: ignore[attr-defined]
    ).first()


def _check_editable(db_session: Session, report: AnnualReport) -> None:
    if report.state not in EDITABLE:
        raise Conflict(
            _("This report has been filed and is waiting for review; it cannot be changed now")
            if report.state in ("submitted", "resubmitted")
            else _("This report has been decided and cannot be changed"),
            code="not_editable",
        )
    # A closed period is closed here, not only on its pages: no answer or file changes after.
    period = db_session.get(ReportingPeriod, report.period_id)
    if period is not None and period_state(period) == "closed":
        raise Conflict(_closed_message(period), code="period_closed")


def _closed_message(period: ReportingPeriod) -> str:
    return _(
        "The reporting period %(year)s has been closed by the ministry: reports are no longer accepted",
        year=period.year,
    )


def _write(
    db_session: Session, report: AnnualReport, read_version: int, user: User, **values: Any
) -> None:
    """Change the report only if nobody changed it since `read_version` was read."""
    changed = db_session.execute(
        update(AnnualReport)
        .where(AnnualReport.id == report.id, AnnualReport.version == read_version)
        .values(version=read_version + 1, updated_at=utcnow(), updated_by_id=user.id, **values)
    ).rowcount
    if changed != 1:
        raise ReportChanged()
    db_session.refresh(report)


def save_section(
    *,
    db_session: Session,
    user: User,
    report: AnnualReport,
    section_code: str,
    values: dict[str, Any],
    read_version: int,
) -> None:
    save_sections(
        db_session=db_session,
        user=user,
        report=report,
        sections={section_code: values},
        read_version=read_version,
    )


def save_sections(
    *,
    db_session: Session,
    user: User,
    report: AnnualReport,
    sections: dict[str, dict[str, Any]],
    read_version: int,
) -> None:
    """Save the answers of several sections at once (one new version of the report)."""
    _check_editable(db_session, report)
    if report.version != read_version:
        raise ReportChanged()
    content = json.loads(json.dumps(report.content))
    content["sections"].update(sections)
    _write(db_session, report, read_version, user, content=content)


def evidence_of(*, db_session: Session, report: AnnualReport) -> list[Evidence]:
    return list(
        db_session.scalars(
            select(Evidence)
            .where(Evidence.report_id == report.id, Evidence.removed_at.is_(None))  # type: ignore[union-attr]
            .order_by(Evidence.uploaded_at, Evidence.id)
        )
    )


def add_evidence(
    *,
    db_session: Session,
    settings: Settings,
    storage: EvidenceStorage,
    user: User,
    report: AnnualReport,
    section_code: str,
    upload: CheckedFile,
) -> Evidence:
    _check_editable(db_session, report)
    used = sum(e.size for e in evidence_of(db_session=db_session, report=report))
    if used + upload.size > settings.evidence_max_report_bytes:
        raise TooLarge(
            _(
                "This report already has %(used)s MB of evidence; the limit is %(limit)s MB per report. "
                "Remove a file or attach a smaller one.",
                used=round(used / 1_000_000, 1),
                limit=settings.evidence_max_report_bytes // 1_000_000,
            ),
            "file",
            code="report_evidence_limit",
        )
    key = storage.new_key()
    storage.save(key, upload.file)
    evidence = Evidence(
        report_id=report.id,  # type: ignore[arg-type]
        section=section_code,
        storage_key=key,
        filename=upload.filename,
        content_type=upload.content_type,
        size=upload.size,
        sha256=upload.sha256,
        uploaded_by_id=user.id,
    )
    db_session.add(evidence)
    db_session.flush()
    return evidence


def remove_evidence(*, db_session: Session, report: AnnualReport, evidence_id: int) -> Evidence:
    _check_editable(db_session, report)
    evidence = db_session.get(Evidence, evidence_id)
    if evidence is None or evidence.report_id != report.id or evidence.removed_at is not None:
        raise NotFound()
    evidence.removed_at = utcnow()
    db_session.flush()
    return evidence


def canonical_sha256(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def submit(
    *,
    db_session: Session,
    settings: Settings,
    user: User,
    establishment: Establishment,
    report: AnnualReport,
    read_version: int,
) -> ReportSubmission:
    """File the report as it stands: an immutable copy with its time and SHA-256, and a receipt by mail."""
    submission = record_submission(
        db_session=db_session,
        user=user,
        establishment=establishment,
        report=report,
        read_version=read_version,
    )
    period = db_session.get(ReportingPeriod, report.period_id)
    assert period is not None
    _mail_receipt(db_session, settings, establishment, period, submission)
    return submission


def record_submission(
    *,
    db_session: Session,
    user: User,
    establishment: Establishment,
    report: AnnualReport,
    read_version: int,
) -> ReportSubmission:
    """The report as it stands, checked and filed (an immutable copy), without the receipt mail."""
    period = db_session.get(ReportingPeriod, report.period_id)
    assert period is not None
    if report.state not in EDITABLE:
        raise Conflict(
            _("This report has already been filed. You can see the receipt below."),
            code="already_submitted",
        )
    if report.version != read_version:
        raise ReportChanged()
    _check_can_file(db_session, establishment, period)
    definition = form_definition(db_session=db_session, period=period)
    if definition.problems(establishment.category, report.content):
        raise DomainError(_("The report cannot be filed yet: fix the problems listed on this page"))
    now = utcnow()
    evidence = [
        {
            "id": e.id,
            "section": e.section,
            "filename": e.filename,
            "content_type": e.content_type,
            "size": e.size,
            "sha256": e.sha256,
        }
        for e in evidence_of(db_session=db_session, report=report)
    ]
    filed = {
        "establishment": {
            "ruc": establishment.ruc,
            "branch_code": establishment.branch_code,
            "legal_name": establishment.legal_name,
            "trade_name": establishment.trade_name,
            "category": establishment.category,
            "region": establishment.region,
        },
        "year": period.year,
        "form_version": definition.version,
        "submitted_at": now.isoformat(),
        "sections": report.content["sections"],
        "evidence": evidence,
    }
    number = (
        db_session.scalar(
            select(func.count())
            .select_from(ReportSubmission)
            .where(ReportSubmission.report_id == report.id)
        )
        or 0
    ) + 1
    new_state = "submitted" if number == 1 else "resubmitted"
    _write(db_session, report, read_version, user, state=new_state)
    submission = ReportSubmission(
        report_id=report.id,  # type: ignore[arg-type]
        number=number,
        submitted_at=now,
        submitted_by_id=user.id,
        late=lima_date(now) > period.deadline,
        content=filed,
        content_sha256=canonical_sha256(filed),
    )
    db_session.add(submission)
    db_session.flush()
    return submission


def _mail_receipt(
    db_session: Session,
    settings: Settings,
    establishment: Establishment,
    period: ReportingPeriod,
    submission: ReportSubmission,
) -> None:
    from app.reports.pdf import receipt_pdf

    establishments.mail_operators(
        db_session=db_session,
        establishment_id=establishment.id,  # type: ignore[arg-type]
        template="report_receipt",
        context={
            "establishment": establishment,
            "period": period,
            "submission": submission,
            "link": f"{settings.base_url}/establishments/{establishment.id}/reports/{period.year}",
        },
        attachment=lambda locale: (
            f"constancia-{period.year}-{establishment.ruc}-{establishment.branch_code}-{submission.number}.pdf",
            "application/pdf",
            receipt_pdf(submission=submission, locale=locale),
        ),
    )


def submissions_of(*, db_session: Session, report: AnnualReport) -> list[ReportSubmission]:
    return list(
        db_session.scalars(
            select(ReportSubmission)
            .where(ReportSubmission.report_id == report.id)
            .order_by(ReportSubmission.number.desc())  # type: ignore[attr-defined]
        )
    )
