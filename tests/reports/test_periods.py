"""Administrators manage reporting periods: defaults, dates typed two ways, what is refused, closing."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select

from app.clock import today
from app.establishments.models import Establishment
from app.reports import service
from app.reports.models import AnnualReport, ReportForm, ReportingPeriod
from tests.conftest import (
    SIGNATURE,
    add_establishment,
    error_summary,
    field_error,
    field_value,
    flash_text,
    make_user,
    page,
    post_form,
    sign_in,
)

ADMIN = "admin@mincetur.gob.pe"


@pytest.fixture
def admin(client, db):
    make_user(db, ADMIN, role="admin")
    sign_in(client, ADMIN)
    post_form(client, "/language", {"lang": "en", "next": "/"}, form_page="/")


def _periods(db) -> list[ReportingPeriod]:
    db.expire_all()
    return list(db.scalars(select(ReportingPeriod).order_by(ReportingPeriod.year)))


def _period_form(**overrides: str) -> dict[str, str]:
    data = {
        "year": "2025",
        "opens_on": "",
        "deadline": "",
        "grace_days": "30",
        "cutoff_on": "",
        "form_version": "2025",
    }
    data.update(overrides)
    return data


def _row(client, year: int) -> str:
    listing = page(client.get("/admin/periods"))
    for row in listing.select("tbody tr"):
        if row.th and row.th.get_text(strip=True) == str(year):
            return row.get_text(" ", strip=True)
    raise AssertionError(f"no row for {year}")


def test_a_period_with_blank_dates_gets_the_defaults(client, db, admin):
    form = client.get("/admin/periods/new")
    assert form.status_code == 200
    hints = page(form).get_text(" ", strip=True)
    assert "01/01/2026" in hints and "31/03/2026" in hints and "31/12/2025" in hints

    response = post_form(client, "/admin/periods/new", _period_form(), "/admin/periods/new")
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/periods"
    listing = client.get("/admin/periods")
    assert "2025" in flash_text(listing) and "March 31, 2026" in flash_text(listing)
    row = _row(client, 2025)
    for expected in ("January 1, 2026", "March 31, 2026", "April 30, 2026", "December 31, 2025"):
        assert expected in row
    assert "2025" in row

    (period,) = _periods(db)
    assert (period.opens_on, period.deadline, period.cutoff_on, period.grace_days) == (
        date(2026, 1, 1),
        date(2026, 3, 31),
        date(2025, 12, 31),
        30,
    )


def test_dates_are_typed_either_way(client, db, admin):
    response = post_form(
        client,
        "/admin/periods/new",
        _period_form(opens_on="2026-01-05", deadline="15/4/2026", cutoff_on=" 30/11/2025 "),
    )
    assert response.status_code == 303, error_summary(response)
    (period,) = _periods(db)
    assert (period.opens_on, period.deadline, period.cutoff_on) == (
        date(2026, 1, 5),
        date(2026, 4, 15),
        date(2025, 11, 30),
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("opens_on", "31/02/2026", "Enter the opening date as DD/MM/YYYY"),
        ("opens_on", "1" * 100_000, "Enter the opening date as DD/MM/YYYY"),
        ("deadline", "next march", "Enter the deadline as DD/MM/YYYY"),
        ("deadline", "2025-12-31", "The deadline must be on or after the opening date"),
        ("cutoff_on", "2026-13-01", "Enter the cut-off date as DD/MM/YYYY"),
        ("cutoff_on", "01/04/2026", "The cut-off date must be on or before the deadline"),
        ("grace_days", "-1", "from 0 to 365"),
        ("grace_days", "366", "from 0 to 365"),
        ("grace_days", "", "from 0 to 365"),
        ("grace_days", "9" * 100_000, "from 0 to 365"),
        ("year", "", "Enter the year reported on"),
        ("year", "0000", "Enter the year reported on"),
        ("year", "2" * 100_000, "Enter the year reported on"),
        ("year", "2010", "Enter a year between 2018 and 2100"),
        ("form_version", "1999", "Choose a version of the report form"),
        ("form_version", "x" * 100_000, "Choose a version of the report form"),
    ],
)
def test_wrong_values_are_shown_beside_the_field_and_nothing_is_saved(
    client, db, admin, name, value, message
):
    response = post_form(client, "/admin/periods/new", _period_form(**{name: value}))
    assert response.status_code == 400
    assert message in field_error(response, name)
    assert any(message in item for item in error_summary(response))
    assert page(response).title.get_text().startswith("Error")
    if name != "form_version":  # a select cannot show a value it does not offer
        assert field_value(response, name) == value.strip()
    assert field_value(response, "grace_days") == ("30" if name != "grace_days" else value)
    assert _periods(db) == []


def test_a_second_period_for_the_same_year_is_refused(client, db, admin):
    assert post_form(client, "/admin/periods/new", _period_form()).status_code == 303
    response = post_form(client, "/admin/periods/new", _period_form(deadline="30/04/2026"))
    assert response.status_code == 400
    assert "already a reporting period for 2025" in field_error(response, "year")
    assert field_value(response, "deadline") == "30/04/2026"
    assert [p.deadline for p in _periods(db)] == [date(2026, 3, 31)]


def test_the_new_form_suggests_the_year_after_the_last_period(client, db, admin):
    post_form(client, "/admin/periods/new", _period_form(year="2025"))
    assert field_value(client.get("/admin/periods/new"), "year") == "2026"


@pytest.mark.parametrize("role", ["operator", "reviewer", "national_reviewer"])
def test_only_administrators_reach_the_period_pages(client, db, role):
    service.create_period(db_session=db, data=service.PeriodInput(year=2025))
    db.commit()
    make_user(db, "staff@mincetur.gob.pe", role=role, regions=("PE-CUS",))
    sign_in(client, "staff@mincetur.gob.pe")
    for path in ("/admin/periods", "/admin/periods/new", "/admin/periods/2025/edit"):
        assert client.get(path).status_code == 403, path
    token = page(client.get("/dashboard")).find("input", {"name": "csrf_token"})["value"]
    for path in (
        "/admin/periods/new",
        "/admin/periods/2025/edit",
        "/admin/periods/2025/close",
        "/admin/periods/2025/reopen",
    ):
        response = client.post(path, data={"csrf_token": token, **_period_form(year="2030")})
        assert response.status_code == 403, path
    assert [(p.year, p.closed_at) for p in _periods(db)] == [(2025, None)]
    links = {a["href"] for a in page(client.get("/dashboard")).find_all("a", href=True)}
    assert "/admin/periods" not in links


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get("/admin/periods")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/account/login?next=")


def test_administrators_find_the_pages_in_the_menu(client, admin):
    links = {a["href"] for a in page(client.get("/dashboard")).find_all("a", href=True)}
    assert "/admin/periods" in links


def test_a_year_outside_the_range_or_without_a_period_is_not_found(client, admin):
    for path in ("/admin/periods/1999/edit", "/admin/periods/2030/edit", "/admin/periods/x/edit"):
        assert client.get(path).status_code == 404, path


def _open_period_dates() -> dict[str, str]:
    """A period open today: filing opened ten days ago, the deadline in ten days."""
    opens = today() - timedelta(days=10)
    return {
        "opens_on": opens.isoformat(),
        "deadline": (today() + timedelta(days=10)).isoformat(),
        "cutoff_on": opens.isoformat(),
    }


def test_closing_and_opening_again_changes_the_state_shown(client, db, admin):
    post_form(client, "/admin/periods/new", _period_form(**_open_period_dates()))
    assert "Open" in _row(client, 2025)

    response = post_form(client, "/admin/periods/2025/close", {}, "/admin/periods")
    assert response.status_code == 303
    listing = client.get("/admin/periods")
    assert "closed" in flash_text(listing)
    assert "Closed" in _row(client, 2025)
    assert _periods(db)[0].closed_at is not None
    edit = page(client.get("/admin/periods/2025/edit"))
    assert edit.find("form", action="/admin/periods/2025/reopen")

    response = post_form(client, "/admin/periods/2025/reopen", {}, "/admin/periods")
    assert response.status_code == 303
    assert "Closed" not in _row(client, 2025)
    assert "Open" in _row(client, 2025)
    assert _periods(db)[0].closed_at is None


def test_closing_without_the_forms_token_changes_nothing(client, db, admin):
    post_form(client, "/admin/periods/new", _period_form())
    response = client.post("/admin/periods/2025/close", data={"csrf_token": "forged"})
    assert response.status_code == 303
    assert "expired" in flash_text(client.get("/admin/periods"))
    assert _periods(db)[0].closed_at is None


def test_editing_shows_the_current_values_and_saves_the_changes(client, db, admin):
    post_form(client, "/admin/periods/new", _period_form())
    edit = client.get("/admin/periods/2025/edit")
    assert field_value(edit, "deadline") == "31/03/2026"
    assert field_value(edit, "form_version") == "2025"
    assert field_value(edit, "year") is None  # the year of a period does not change

    changed = {**_period_form(), "deadline": "30/04/2026", "grace_days": "15"}
    del changed["year"]
    response = post_form(client, "/admin/periods/2025/edit", changed)
    assert response.status_code == 303, error_summary(response)
    assert "April 30, 2026" in _row(client, 2025)
    (period,) = _periods(db)
    assert (period.deadline, period.grace_days, period.year) == (date(2026, 4, 30), 15, 2025)


def test_editing_refuses_wrong_values_and_saves_nothing(client, db, admin):
    post_form(client, "/admin/periods/new", _period_form())
    response = post_form(
        client,
        "/admin/periods/2025/edit",
        {
            "opens_on": "01/05/2026",
            "deadline": "31/03/2026",
            "grace_days": "30",
            "form_version": "2025",
        },
    )
    assert response.status_code == 400
    assert "on or after the opening date" in field_error(response, "deadline")
    assert field_value(response, "opens_on") == "01/05/2026"
    assert _periods(db)[0].opens_on == date(2026, 1, 1)


def _signed_establishment(app) -> int:
    """An operator signs the Code for an establishment, through the pages, in their own browser."""
    with TestClient(app, follow_redirects=False) as operator:
        sign_in(operator, "rosa@hostal.pe")
        establishment_id = add_establishment(operator)
        assert (
            post_form(operator, f"/establishments/{establishment_id}/sign", SIGNATURE).status_code
            == 303
        )
    return establishment_id


@pytest.fixture
def second_form_version(db):
    """Another version of the report form; removed afterwards (the tests keep report forms)."""
    form = ReportForm(version="2099", published_on=date(2020, 1, 1), content={"version": "2099"})
    db.add(form)
    db.commit()
    yield form
    db.rollback()
    db.execute(delete(AnnualReport))
    db.execute(delete(ReportingPeriod))
    db.execute(delete(ReportForm).where(ReportForm.id == form.id))
    db.commit()


def test_the_form_version_cannot_change_once_a_report_has_started(
    client, app, db, admin, second_form_version
):
    dates = {**_period_form(**_open_period_dates()), "opens_on": today().isoformat()}
    dates["cutoff_on"] = today().isoformat()  # the operator signs today
    post_form(client, "/admin/periods/new", dates)
    operator = make_user(db, "rosa@hostal.pe")
    establishment_id = _signed_establishment(app)
    del dates["year"]

    # Before any report is started, the version can change (and back).
    assert (
        post_form(client, "/admin/periods/2025/edit", {**dates, "form_version": "2099"}).status_code
        == 303
    )
    assert post_form(client, "/admin/periods/2025/edit", dates).status_code == 303

    service.start_report(
        db_session=db,
        user=operator,
        establishment=db.get(Establishment, establishment_id),
        period=service.get_period(db_session=db, year=2025),
    )
    db.commit()

    response = post_form(client, "/admin/periods/2025/edit", {**dates, "form_version": "2099"})
    assert response.status_code == 400
    assert "cannot change now" in field_error(response, "form_version")
    assert field_value(response, "form_version") == "2099"
    (period,) = _periods(db)
    assert db.get(ReportForm, period.report_form_id).version == "2025"
    assert db.scalar(select(func.count()).select_from(ReportingPeriod)) == 1


def test_the_list_counts_who_must_file_and_who_has_started_and_filed(client, app, db, admin):
    dates = {**_period_form(), "opens_on": today().isoformat(), "cutoff_on": today().isoformat()}
    dates["deadline"] = (today() + timedelta(days=30)).isoformat()
    post_form(client, "/admin/periods/new", dates)
    operator = make_user(db, "rosa@hostal.pe")
    establishment_id = _signed_establishment(app)

    def cells() -> list[str]:
        """Must file, started, filed."""
        row = page(client.get("/admin/periods")).select("tbody tr td")
        return [td.get_text(strip=True) for td in row[6:9]]

    assert cells() == ["1", "0", "0"]
    report = service.start_report(
        db_session=db,
        user=operator,
        establishment=db.get(Establishment, establishment_id),
        period=service.get_period(db_session=db, year=2025),
    )
    db.commit()
    assert cells() == ["1", "1", "0"]
    report.state = "submitted"
    db.commit()
    assert cells() == ["1", "1", "1"]
