"""`portal periods create|list` and `portal reminders send`, run against the test database."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from app.cli import app as portal
from app.clock import today
from app.config import get_settings
from app.reports.models import ReportingPeriod
from tests.conftest import SIGNATURE, add_establishment, make_user, post_form, sign_in


@pytest.fixture
def cli(database_url, smtp_server, db, monkeypatch):
    """Runs `portal ...` with the settings of the test database and mail server."""
    monkeypatch.setenv("PORTAL_DATABASE_URL", database_url)
    monkeypatch.setenv("PORTAL_BASE_URL", "http://testserver")
    monkeypatch.setenv("PORTAL_MAIL_BACKEND", "smtp")
    monkeypatch.setenv("PORTAL_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("PORTAL_SMTP_PORT", str(smtp_server[1]))
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(portal, list(args))
    get_settings.cache_clear()


def _periods(db) -> list[ReportingPeriod]:
    db.expire_all()
    return list(db.scalars(select(ReportingPeriod).order_by(ReportingPeriod.year)))


def test_create_with_the_defaults_and_list(cli, db):
    result = cli("periods", "create", "--year", "2025")
    assert result.exit_code == 0, result.output
    assert "2025" in result.stdout
    for day in ("2026-01-01", "2026-03-31", "2025-12-31", "2026-04-30"):
        assert day in result.stdout
    (period,) = _periods(db)
    assert (period.opens_on, period.deadline, period.cutoff_on) == (
        date(2026, 1, 1),
        date(2026, 3, 31),
        date(2025, 12, 31),
    )

    assert cli("periods", "create", "--year", "2026", "--deadline", "2027-04-15").exit_code == 0
    listing = cli("periods", "list")
    assert listing.exit_code == 0
    lines = listing.stdout.splitlines()
    assert lines[0].split()[:3] == ["year", "opens", "deadline"]
    assert lines[1].startswith("2026 ") and "2027-04-15" in lines[1]
    assert lines[2].startswith("2025 ") and "2026-03-31" in lines[2]


def test_create_with_every_option(cli, db):
    result = cli(
        "periods",
        "create",
        "--year",
        "2025",
        "--opens",
        "2026-01-15",
        "--deadline",
        "2026-04-15",
        "--grace",
        "10",
        "--cutoff",
        "2025-11-30",
        "--form-version",
        "2025",
    )
    assert result.exit_code == 0, result.output
    assert "2026-04-25" in result.stdout  # the grace period's end
    (period,) = _periods(db)
    assert (period.opens_on, period.deadline, period.grace_days, period.cutoff_on) == (
        date(2026, 1, 15),
        date(2026, 4, 15),
        10,
        date(2025, 11, 30),
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--year", "2025", "--deadline", "2025-12-01"],  # before filing opens
        ["--year", "2025", "--grace", "-1"],
        ["--year", "2010"],
        ["--year", "2025", "--form-version", "1999"],
    ],
)
def test_what_the_rules_refuse_is_an_error_with_exit_code_2(cli, db, args):
    result = cli("periods", "create", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ")
    assert _periods(db) == []


def test_a_second_period_for_a_year_and_a_malformed_date_are_refused(cli, db):
    assert cli("periods", "create", "--year", "2025").exit_code == 0
    duplicate = cli("periods", "create", "--year", "2025")
    assert duplicate.exit_code == 2
    assert "Error: " in duplicate.stderr and "2025" in duplicate.stderr
    malformed = cli("periods", "create", "--year", "2026", "--opens", "31/12/2026")
    assert malformed.exit_code == 2
    assert [p.year for p in _periods(db)] == [2025]


def test_listing_no_periods(cli):
    result = cli("periods", "list")
    assert result.exit_code == 0
    assert "No reporting periods" in result.stdout


def test_reminders_send_mails_and_prints_the_counts(cli, app, db, mailbox):
    from fastapi.testclient import TestClient

    make_user(db, "rosa@hostal.pe")
    with TestClient(app, follow_redirects=False) as browser:
        sign_in(browser, "rosa@hostal.pe")
        establishment_id = add_establishment(browser)
        post_form(browser, f"/establishments/{establishment_id}/sign", SIGNATURE)
    mailbox.messages.clear()
    opens = today() + timedelta(days=1)
    created = cli(
        "periods",
        "create",
        "--year",
        "2025",
        "--opens",
        opens.isoformat(),
        "--deadline",
        (opens + timedelta(days=60)).isoformat(),
        "--cutoff",
        today().isoformat(),
    )
    assert created.exit_code == 0, created.output

    result = cli("reminders", "send", "--today", opens.isoformat())
    assert result.exit_code == 0, result.output
    assert "opened 1" in result.stdout and "due_30 0" in result.stdout
    mail = mailbox.last_to("rosa@hostal.pe")
    assert "Hostal Ñusta" in mail["Subject"]
    assert f"http://testserver/establishments/{establishment_id}/reports/2025" in mailbox.body(mail)

    again = cli("reminders", "send", "--today", opens.isoformat())
    assert "opened 0" in again.stdout
    assert len(mailbox.to("rosa@hostal.pe")) == 1

    # Without --today it is today in Peru: filing has not opened yet.
    assert "opened 0" in cli("reminders", "send").stdout
