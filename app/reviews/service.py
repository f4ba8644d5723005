"""The review queue, assignment and decisions on filed reports. Every staff action is audited."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.audit import service as audit
from app.auth.models import User
from app.auth.roles import Permission, has_permission
from app.config import Settings
from app.db import utcnow
from app.errors import Conflict, DomainError, NotFound
from app.establishments import service as establishments
from app.establishments.models import Establishment
from app.i18n import _, lazy_gettext
from app.reports.models import AnnualReport, ReportingPeriod, ReportSubmission
from app.reviews.models import DECISIONS, ReviewDecision

AWAITING = ("submitted", "resubmitted")
REJECTION_REASONS = {
    "not_fulfilled": lazy_gettext("The commitments of the Code were not fulfilled"),
    "false_information": lazy_gettext("The information filed is not true"),
    "no_evidence": lazy_gettext("The evidence does not support what was reported"),
    "changes_not_made": lazy_gettext("The changes requested were not made"),
    "other": lazy_gettext("Another reason (explained in the comment)"),
}


def _require_reviewer(user: User) -> None:
    if not has_permission(user.role, Permission.REVIEW_REPORTS):
        raise DomainError(_("Only reviewers can decide on reports"))


# --- the queue -------------------------------------------------------------------------------------


@dataclass
class QueueFilter:
    year: int | None = None
    region: str = ""
    category: str = ""
    state: str = ""  # "" = waiting for a decision (submitted or resubmitted)
    late: str = ""  # "yes", "no" or ""
    q: str = ""
    mine: bool = False


@dataclass
class QueueRow:
    report: AnnualReport
    establishment: Establishment
    period: ReportingPeriod
    submission: ReportSubmission


def _latest_submission_ids() -> Any:
    return (
        select(ReportSubmission.report_id, func.max(ReportSubmission.id).label("submission_id"))
        .group_by(ReportSubmission.report_id)
        .subquery()
    )


def queue_statement(user: User, filters: QueueFilter) -> Select[Any]:
    """Filed reports of the establishments the reviewer may see (their regions), by the filters."""
    scoped = establishments.readable_statement(user).subquery()
    latest = _latest_submission_ids()
    statement = (
        select(AnnualReport, Establishment, ReportingPeriod, ReportSubmission)
        .join(scoped, scoped.c.id == AnnualReport.establishment_id)
        .join(Establishment, Establishment.id == AnnualReport.establishment_id)  # type: ignore[arg-type]
        .join(ReportingPeriod, ReportingPeriod.id == AnnualReport.period_id)  # type: ignore[arg-type]
        .join(latest, latest.c.report_id == AnnualReport.id)
        .join(ReportSubmission, ReportSubmission.id == latest.c.submission_id)
    )
    if filters.year:
        statement = statement.where(ReportingPeriod.year == filters.year)
    if filters.region:
        statement = statement.where(Establishment.region == filters.region)
    if filters.category:
        statement = statement.where(Establishment.category == filters.category)
    if filters.late in ("yes", "no"):
        statement = statement.where(ReportSubmission.late == (filters.late == "yes"))
    if filters.mine:
        statement = statement.where(AnnualReport.assigned_to_id == user.id)
    if filters.q:
        text = filters.q.strip()
        statement = statement.where(
            or_(
                Establishment.ruc.startswith(text),  # type: ignore[attr-defined]
                func.lower(Establishment.trade_name).contains(text.lower()),
                func.lower(Establishment.legal_name).contains(text.lower()),
            )
        )
    return statement


def queue(
    *, db_session: Session, user: User, filters: QueueFilter, page: int = 1, per_page: int = 25
) -> tuple[list[QueueRow], int, dict[str, int]]:
    """One page of the queue (oldest filing first), its total, and the count in each state."""
    base = queue_statement(user, filters)
    counts = _state_counts(db_session, base)
    states = AWAITING if not filters.state else (filters.state,)
    statement = base.where(AnnualReport.state.in_(states))  # type: ignore[attr-defined]
    total = db_session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = db_session.execute(
        statement.order_by(ReportSubmission.submitted_at, AnnualReport.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return [QueueRow(*row) for row in rows], total, counts


def _state_counts(db_session: Session, base: Select[Any]) -> dict[str, int]:
    sub = base.with_only_columns(AnnualReport.state).subquery()
    return {
        state: count
        for state, count in db_session.execute(
            select(sub.c.state, func.count()).group_by(sub.c.state)
        )
    }


@dataclass
class ReviewItem:
    report: AnnualReport
    establishment: Establishment
    period: ReportingPeriod
    submissions: list[ReportSubmission]
    decisions: list[ReviewDecision] = field(default_factory=list)

    @property
    def latest(self) -> ReportSubmission | None:
        return self.submissions[0] if self.submissions else None

    def decision_on(self, submission: ReportSubmission) -> ReviewDecision | None:
        return next((d for d in self.decisions if d.submission_id == submission.id), None)


def get_for_review(*, db_session: Session, user: User, report_id: int) -> ReviewItem:
    """A filed report in the reviewer's scope, or NotFound (the same for one outside their regions)."""
    if not has_permission(user.role, Permission.REVIEW_REPORTS) and not has_permission(
        user.role, Permission.VIEW_ALL_ESTABLISHMENTS
    ):
        raise NotFound()
    report = db_session.get(AnnualReport, report_id)
    if report is None:
        raise NotFound()
    establishment = establishments.get_readable(
        db_session=db_session, user=user, establishment_id=report.establishment_id
    )
    period = db_session.get(ReportingPeriod, report.period_id)
    assert period is not None
    submissions = list(
        db_session.scalars(
            select(ReportSubmission)
            .where(ReportSubmission.report_id == report.id)
            .order_by(ReportSubmission.number.desc())  # type: ignore[attr-defined]
        )
    )
    if not submissions:
        raise NotFound()  # a draft is the operator's own business until it is filed
    decisions = latest_decisions(db_session=db_session, report=report)
    return ReviewItem(report, establishment, period, submissions, decisions)


def latest_decisions(*, db_session: Session, report: AnnualReport) -> list[ReviewDecision]:
    return list(
        db_session.scalars(
            select(ReviewDecision)
            .where(ReviewDecision.report_id == report.id)
            .order_by(ReviewDecision.decided_at.desc(), ReviewDecision.id.desc())  # type: ignore[attr-defined]
        )
    )


def changes_between(older: dict[str, Any], newer: dict[str, Any]) -> dict[str, list[str]]:
    """Which answers changed between two submissions, by section code (figure keys, 'status', 'narrative')."""
    changed: dict[str, list[str]] = {}
    for code, section in newer.get("sections", {}).items():
        before = older.get("sections", {}).get(code) or {}
        keys = [k for k in ("status", "narrative") if section.get(k) != before.get(k)]
        keys += [
            k
            for k, v in (section.get("figures") or {}).items()
            if v != (before.get("figures") or {}).get(k)
        ]
        if keys:
            changed[code] = keys
    return changed


# --- assignment ------------------------------------------------------------------------------------


def assign(*, db_session: Session, user: User, item: ReviewItem, to_self: bool) -> None:
    """Take a report to review it (or let it go), so two reviewers do not work on the same one."""
    _require_reviewer(user)
    report = item.report
    before = report.assigned_to_id
    if to_self and before not in (None, user.id):
        raise DomainError(_("Another reviewer is already working on this report"))
    report.assigned_to_id = user.id if to_self else None
    audit.record(
        db_session=db_session,
        actor=user,
        action="report.assign" if to_self else "report.unassign",
        object_type="annual_report",
        object_id=report.id,
        region=item.establishment.region,
        summary=f"{item.establishment.trade_name} {item.period.year}",
        before={"assigned_to_id": before},
        after={"assigned_to_id": report.assigned_to_id},
    )
    db_session.flush()


# --- decisions -------------------------------------------------------------------------------------


@dataclass
class DecisionInput:
    decision: str
    submission_number: int  # the submission the reviewer was looking at
    comment: str = ""
    reason: str = ""
    section_comments: dict[str, str] = field(default_factory=dict)


def _check_decision(item: ReviewItem, data: DecisionInput) -> None:
    if data.decision not in DECISIONS:
        raise DomainError(_("Choose a decision"), "decision")
    if item.report.state not in AWAITING:
        raise Conflict(
            _("This report is not waiting for a decision (it may have been decided already)"),
            code="already_decided",
        )
    latest = item.latest
    if latest is None or latest.number != data.submission_number:
        raise Conflict(
            _("The operator filed a newer version of this report: review that one"),
            code="newer_submission",
        )
    if item.decision_on(latest) is not None:
        raise Conflict(_("This submission has already been decided"), code="already_decided")
    if len(data.comment) > 5000:
        raise DomainError(
            _(
                "Enter at most %(limit)s characters (you entered %(count)s)",
                limit=5000,
                count=len(data.comment),
            ),
            "comment",
        )
    if data.decision == "changes_requested":
        if not data.comment:
            raise DomainError(_("Say what the operator has to change"), "comment")
        if not any(v.strip() for v in data.section_comments.values()):
            raise DomainError(
                _("Write a comment on at least one section, beside what has to change"),
                "section_comments",
            )
    if data.decision == "rejected":
        if data.reason not in REJECTION_REASONS:
            raise DomainError(_("Choose the reason for rejecting the report"), "reason")
        if not data.comment:
            raise DomainError(_("Explain the rejection in the comment"), "comment")


def decide(
    *, db_session: Session, settings: Settings, user: User, item: ReviewItem, data: DecisionInput
) -> ReviewDecision:
    """Approve, request changes or reject the latest submission; exactly one decision per submission."""
    _require_reviewer(user)
    _check_decision(item, data)
    latest = item.latest
    assert latest is not None
    report = item.report
    sections = {k: v.strip()[:2000] for k, v in data.section_comments.items() if v.strip()}
    # A reason picked before the reviewer changed their mind belongs to no approval.
    reason = data.reason if data.decision == "rejected" else ""
    decision = ReviewDecision(
        report_id=report.id,  # type: ignore[arg-type]
        submission_id=latest.id,  # type: ignore[arg-type]
        reviewer_id=user.id,
        decision=data.decision,
        reason=reason or None,
        comment=data.comment,
        section_comments=sections,
    )
    before_state = report.state
    try:
        with db_session.begin_nested():
            db_session.add(decision)
            db_session.flush()
            # The state moves only from the state this reviewer saw: a racing decision fails here.
            moved = db_session.execute(
                update(AnnualReport)
                .where(AnnualReport.id == report.id, AnnualReport.state == before_state)
                .values(state=data.decision, version=AnnualReport.version + 1, updated_at=utcnow())
            ).rowcount
            if moved != 1:
                raise IntegrityError("state changed", None, ValueError())
    except IntegrityError:
        raise Conflict(
            _(
                "Another reviewer decided on this report a moment ago. Reload the page to see the decision."
            ),
            code="already_decided",
        ) from None
    db_session.refresh(report)
    audit.record(
        db_session=db_session,
        actor=user,
        action=f"report.{data.decision}",
        object_type="annual_report",
        object_id=report.id,
        region=item.establishment.region,
        summary=f"{item.establishment.trade_name} {item.period.year} #{latest.number}",
        before={"state": before_state},
        after={
            "state": report.state,
            "reason": reason or None,
            "comment": data.comment,
            "sections": sections,
        },
    )
    _mail_decision(db_session, settings, item, decision)
    if data.decision == "approved":
        # Imported here: certificates build on reviews (they read the approval date).
        from app.certificates import service as certificates

        certificates.issue(db_session=db_session, settings=settings, report=report, actor=user)
    return decision


def _mail_decision(
    db_session: Session, settings: Settings, item: ReviewItem, decision: ReviewDecision
) -> None:
    establishments.mail_operators(
        db_session=db_session,
        establishment_id=item.establishment.id,  # type: ignore[arg-type]
        template="report_decision",
        context={
            "establishment": item.establishment,
            "period": item.period,
            "decision": decision,
            "reason": REJECTION_REASONS.get(decision.reason or "", ""),
            "link": f"{settings.base_url}/establishments/{item.establishment.id}/reports/{item.period.year}",
        },
    )


def decision_for_operator(*, db_session: Session, report: AnnualReport) -> ReviewDecision | None:
    """The decision an operator should read now: the latest, when the report came back or was decided."""
    if report.state not in ("changes_requested", "approved", "rejected"):
        return None
    decisions = latest_decisions(db_session=db_session, report=report)
    return decisions[0] if decisions else None
