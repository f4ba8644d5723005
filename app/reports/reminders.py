"""Reminder mails to establishments that must file a report and have not: when filing opens, 30, 7
and 1 days before the deadline, and once the deadline has passed. Run daily (`portal reminders send`).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.config import Settings
from app.establishments import service as establishments
from app.establishments.models import Establishment
from app.reports import service
from app.reports.models import REMINDER_KINDS, ReminderSent, ReportingPeriod

#: Report states in which the report is with the operator, not filed.
NOT_FILED = ("draft", "changes_requested")
_TEMPLATES = {
    "opened": "reminder_opened",
    "due_30": "reminder_due",
    "due_7": "reminder_due",
    "due_1": "reminder_due",
    "overdue": "reminder_overdue",
}


def due_kind(period: ReportingPeriod, today: date) -> str:
    """The reminder an establishment that has not filed should have had by `today`."""
    days_left = (period.deadline - today).days
    if days_left < 0:
        return "overdue"
    if days_left <= 1:
        return "due_1"
    if days_left <= 7:
        return "due_7"
    if days_left <= 30:
        return "due_30"
    return "opened"


def send_reminders(*, db_session: Session, settings: Settings, today: date) -> dict[str, int]:
    """Queue the reminders due on `today`; returns how many establishments got each kind.

    Only the latest kind due is sent: one missed because the job did not run is not sent late,
    and is recorded as if sent so that it never goes out later (after a deadline is moved).
    """
    counts = dict.fromkeys(REMINDER_KINDS, 0)
    for period in service.list_periods(db_session=db_session):
        if period.closed_at is not None or period.opens_on > today:
            continue
        kind = due_kind(period, today)
        obliged = service.obliged_establishment_ids(db_session=db_session, period=period)
        reports = service.reports_by_period(
            db_session=db_session,
            establishment_ids=obliged,
            period_ids=[period.id],  # type: ignore[list-item]
        )
        already = _reminders_recorded(db_session, period)
        for establishment_id in obliged:
            report = reports.get((establishment_id, period.id))  # type: ignore[arg-type]
            if report is not None and report.state not in NOT_FILED:
                continue
            if (establishment_id, kind) in already:
                continue
            if not _record(db_session, establishment_id, period, kind):
                continue  # another run is sending this one
            earlier = REMINDER_KINDS[: REMINDER_KINDS.index(kind)]
            for missed in earlier:
                if (establishment_id, missed) not in already:
                    _record(db_session, establishment_id, period, missed)
            _mail(db_session, settings, establishment_id, period, kind, today)
            counts[kind] += 1
    return counts


def _reminders_recorded(db_session: Session, period: ReportingPeriod) -> set[tuple[int, str]]:
    rows = db_session.execute(
        select(ReminderSent.establishment_id, ReminderSent.kind).where(
            ReminderSent.period_id == period.id
        )
    )
    return {(establishment_id, kind) for establishment_id, kind in rows}


def _record(db_session: Session, establishment_id: int, period: ReportingPeriod, kind: str) -> bool:
    """Claim one reminder; False when it is already recorded (two runs at once never both send)."""
    try:
        with db_session.begin_nested():
            db_session.add(
                ReminderSent(
                    establishment_id=establishment_id,
                    period_id=period.id,  # type: ignore[arg-type]
                    kind=kind,
                )
            )
            db_session.flush()
    except IntegrityError:
        return False
    return True


def _mail(
    db_session: Session,
    settings: Settings,
    establishment_id: int,
    period: ReportingPeriod,
    kind: str,
    today: date,
) -> None:
    establishment = db_session.get(Establishment, establishment_id)
    assert establishment is not None
    establishments.mail_operators(
        db_session=db_session,
        establishment_id=establishment_id,
        template=_TEMPLATES[kind],
        context={
            "establishment": establishment,
            "year": period.year,
            "days": (period.deadline - today).days,
            "grace_over": today > service.grace_ends_on(period),
            "deadline": period.deadline,
            "grace_ends_on": service.grace_ends_on(period),
            "link": f"{settings.base_url}/establishments/{establishment_id}/reports/{period.year}",
        },
    )
