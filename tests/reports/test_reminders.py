"""Reminder mails: when filing opens, 30, 7 and 1 days before the deadline, and after it; each once,
only to establishments that must file and have not, in each operator's language."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from babel.dates import format_date
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import Session

from app.clock import today
from app.mail import deliver_pending
from app.reports import reminders, service
from app.reports.models import AnnualReport, ReminderSent, ReportingPeriod
from app.reports.reminders import send_reminders
from tests.conftest import SIGNATURE, add_establishment, make_user, post_form, sign_in, valid_ruc

ROSA = "rosa@hostal.pe"
JOHN = "john@amazonlodge.pe"
ROSA_RUC = valid_ruc("2060412345")


def _signed_establishment(
    app, db, email: str, ruc: str, trade_name: str, english: bool = False
) -> int:
    """An operator registers an establishment and signs the Code for it, through the pages."""
    make_user(db, email)
    with TestClient(app, follow_redirects=False) as browser:
        sign_in(browser, email)
        if english:
            post_form(browser, "/language", {"lang": "en", "next": "/"}, form_page="/")
        establishment_id = add_establishment(browser, ruc=ruc, trade_name=trade_name)
        response = post_form(browser, f"/establishments/{establishment_id}/sign", SIGNATURE)
        assert response.status_code == 303
    return establishment_id


@pytest.fixture
def period(db) -> ReportingPeriod:
    """The report on 2025: opens in 5 days, deadline 60 days later; whoever signed today must file."""
    opens = today() + timedelta(days=5)
    created = service.create_period(
        db_session=db,
        data=service.PeriodInput(
            year=2025, opens_on=opens, deadline=opens + timedelta(days=60), cutoff_on=today()
        ),
    )
    db.commit()
    return created


@pytest.fixture
def rosa(app, db, mailbox) -> int:
    establishment_id = _signed_establishment(app, db, ROSA, ROSA_RUC, "Hostal Ñusta")
    mailbox.messages.clear()  # the signing acknowledgement
    return establishment_id


def _run(app, db, day: date) -> dict[str, int]:
    """A cron run on `day`: queue, commit, deliver. Returns the kinds sent."""
    counts = send_reminders(db_session=db, settings=app.state.settings, today=day)
    db.commit()
    deliver_pending(app.state.engine, app.state.settings)
    return {kind: n for kind, n in counts.items() if n}


def _kinds_recorded(db, establishment_id: int) -> set[str]:
    return set(
        db.scalars(
            select(ReminderSent.kind).where(ReminderSent.establishment_id == establishment_id)
        )
    )


def test_each_reminder_goes_out_once_on_its_day(app, db, mailbox, period, rosa):
    deadline = period.deadline
    link = f"http://testserver/establishments/{rosa}/reports/2025"

    assert _run(app, db, period.opens_on - timedelta(days=1)) == {}
    assert _run(app, db, period.opens_on) == {"opened": 1}
    opened = mailbox.last_to(ROSA)
    assert "Hostal Ñusta" in opened["Subject"] and "2025" in opened["Subject"]
    assert "está abierta" in opened["Subject"]
    body = mailbox.body(opened)
    assert f"{ROSA_RUC}-0000" in body
    assert link in body
    assert format_date(deadline, format="long", locale="es") in body

    assert _run(app, db, period.opens_on) == {}  # the same day again
    assert _run(app, db, period.opens_on + timedelta(days=1)) == {}
    assert _run(app, db, deadline - timedelta(days=31)) == {}
    assert len(mailbox.to(ROSA)) == 1

    assert _run(app, db, deadline - timedelta(days=30)) == {"due_30": 1}
    assert "30 días" in mailbox.last_to(ROSA)["Subject"]
    assert _run(app, db, deadline - timedelta(days=8)) == {}
    assert _run(app, db, deadline - timedelta(days=7)) == {"due_7": 1}
    assert "7 días" in mailbox.last_to(ROSA)["Subject"]
    assert _run(app, db, deadline - timedelta(days=1)) == {"due_1": 1}
    due_1 = mailbox.last_to(ROSA)
    assert "1 día " in due_1["Subject"]
    assert link in mailbox.body(due_1)
    assert _run(app, db, deadline) == {}  # the 1-day reminder covers the last day

    assert _run(app, db, deadline + timedelta(days=1)) == {"overdue": 1}
    overdue = mailbox.last_to(ROSA)
    assert "Hostal Ñusta" in overdue["Subject"] and "2025" in overdue["Subject"]
    body = mailbox.body(overdue)
    assert format_date(deadline + timedelta(days=30), format="long", locale="es") in body
    assert "incumplimiento" in body
    assert link in body
    assert _run(app, db, deadline + timedelta(days=2)) == {}
    assert _run(app, db, deadline + timedelta(days=90)) == {}

    assert len(mailbox.to(ROSA)) == 5
    assert _kinds_recorded(db, rosa) == {"opened", "due_30", "due_7", "due_1", "overdue"}


def test_an_english_account_gets_the_reminder_in_english(app, db, mailbox, period):
    lodge = _signed_establishment(
        app, db, JOHN, valid_ruc("2055501234"), "Amazon Lodge", english=True
    )
    mailbox.messages.clear()
    assert _run(app, db, period.opens_on) == {"opened": 1}
    mail = mailbox.last_to(JOHN)
    assert mail["Subject"] == "Filing of the 2025 annual report is open – Amazon Lodge"
    body = mailbox.body(mail)
    assert format_date(period.deadline, format="long", locale="en") in body
    assert f"http://testserver/establishments/{lodge}/reports/2025" in body

    assert _run(app, db, period.deadline - timedelta(days=7)) == {"due_7": 1}
    assert mailbox.last_to(JOHN)["Subject"].startswith("7 days left to file the 2025 annual report")
    assert _run(app, db, period.deadline + timedelta(days=3)) == {"overdue": 1}
    body = mailbox.body(mailbox.last_to(JOHN))
    assert "non-compliant" in body
    assert format_date(period.deadline + timedelta(days=30), format="long", locale="en") in body


def test_only_establishments_whose_report_is_with_the_operator_are_reminded(
    app, db, mailbox, period, rosa
):
    lodge = _signed_establishment(app, db, JOHN, valid_ruc("2055501234"), "Amazon Lodge")
    mailbox.messages.clear()
    content = {"sections": {}}
    db.add(AnnualReport(establishment_id=rosa, period_id=period.id, content=content))
    db.add(AnnualReport(establishment_id=lodge, period_id=period.id, content=content))
    db.commit()
    rosas, johns = db.scalars(select(AnnualReport).order_by(AnnualReport.id)).all()

    rosas.state = "submitted"
    johns.state = "changes_requested"  # sent back by the reviewer: with the operator again
    db.commit()
    assert _run(app, db, period.opens_on) == {"opened": 1}
    assert mailbox.to(ROSA) == []
    assert len(mailbox.to(JOHN)) == 1

    johns.state = "resubmitted"
    db.commit()
    assert _run(app, db, period.deadline + timedelta(days=1)) == {}
    assert mailbox.to(ROSA) == [] and len(mailbox.to(JOHN)) == 1


def test_a_missed_run_sends_only_the_latest_reminder_and_never_the_earlier_ones(
    app, db, mailbox, period, rosa
):
    five_days_before = period.deadline - timedelta(days=5)
    assert _run(app, db, five_days_before) == {"due_7": 1}
    assert len(mailbox.to(ROSA)) == 1
    assert "5 días" in mailbox.last_to(ROSA)["Subject"]
    assert _kinds_recorded(db, rosa) == {"opened", "due_30", "due_7"}

    # The deadline is moved 25 days later: it is 30 days away again, but that reminder is spent.
    service.update_period(
        db_session=db,
        period=period,
        data=service.PeriodInput(
            year=2025,
            opens_on=period.opens_on,
            deadline=period.deadline + timedelta(days=25),
            cutoff_on=period.cutoff_on,
            form_version="2025",
        ),
    )
    db.commit()
    assert _run(app, db, five_days_before) == {}
    assert _run(app, db, period.deadline - timedelta(days=1)) == {"due_1": 1}
    assert len(mailbox.to(ROSA)) == 2


def test_no_reminders_for_a_closed_period_or_an_establishment_that_signed_after_the_cut_off(
    app, db, mailbox, period, rosa
):
    service.set_period_closed(db_session=db, period=period, closed=True)
    db.commit()
    assert _run(app, db, period.opens_on) == {}
    service.set_period_closed(db_session=db, period=period, closed=False)
    period.cutoff_on = today() - timedelta(days=1)
    db.commit()
    assert _run(app, db, period.opens_on) == {}
    assert mailbox.messages == []


def test_a_run_that_finds_the_reminder_already_claimed_sends_nothing(
    app, db, mailbox, period, rosa, monkeypatch
):
    """Two runs read what was sent at the same moment: the second loses the insert and skips."""
    assert _run(app, db, period.opens_on) == {"opened": 1}
    monkeypatch.setattr(reminders, "_reminders_recorded", lambda db_session, period: set())
    assert _run(app, db, period.opens_on) == {}
    assert len(mailbox.to(ROSA)) == 1


def test_two_runs_at_the_same_moment_send_one_mail(app, db, mailbox, period, rosa, monkeypatch):
    both_read = threading.Barrier(2)
    read = reminders._reminders_recorded

    def read_then_wait(db_session, period):  # type: ignore[no-untyped-def]
        found = read(db_session, period)
        both_read.wait(timeout=20)
        return found

    monkeypatch.setattr(reminders, "_reminders_recorded", read_then_wait)
    results: list[dict[str, int]] = []

    def cron() -> None:
        with Session(app.state.engine) as session:
            counts = send_reminders(
                db_session=session, settings=app.state.settings, today=period.opens_on
            )
            session.commit()
        results.append(counts)

    runs = [threading.Thread(target=cron) for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join(timeout=60)
    assert sorted(r["opened"] for r in results) == [0, 1]
    deliver_pending(app.state.engine, app.state.settings)
    assert len(mailbox.to(ROSA)) == 1
