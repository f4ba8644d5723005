"""Adding establishments and seeing them on the dashboard."""

import pytest
from sqlalchemy import func, select

from app.establishments.models import Establishment
from tests.conftest import (
    add_establishment,
    error_summary,
    establishment_form,
    field_error,
    field_value,
    make_user,
    page,
    post_form,
    sign_in,
    valid_ruc,
)


def _count(db) -> int:
    return db.scalar(select(func.count()).select_from(Establishment))


@pytest.fixture
def operator(client, db):
    make_user(db, "rosa@hostal.pe")
    sign_in(client, "rosa@hostal.pe")
    post_form(client, "/language", {"lang": "en", "next": "/"}, form_page="/")


def test_a_chain_adds_several_establishments_and_sees_them_all(client, db, operator):
    ruc = valid_ruc("2055501234")
    add_establishment(client, ruc=ruc, branch_code="0000", trade_name="Amazonía Lodge")
    add_establishment(client, ruc=ruc, branch_code="0001", trade_name="Amazonía Hotel")
    dashboard = page(client.get("/dashboard"))
    rows = [r.get_text(" ", strip=True) for r in dashboard.select("tbody tr")]
    assert len(rows) == 2
    assert any("Amazonía Lodge" in r and f"{ruc}-0000" in r and "Not signed" in r for r in rows)
    assert any("Amazonía Hotel" in r and f"{ruc}-0001" in r for r in rows)


def test_establishment_page_shows_what_was_entered(client, operator):
    establishment_id = add_establishment(client, website="hostalnusta.pe")
    text = page(client.get(f"/establishments/{establishment_id}")).get_text(" ", strip=True)
    for expected in (
        "Hostal Ñusta",
        "Inversiones Ñusta S.A.C.",
        "Calle Procuradores 351",
        "Cusco",
        "Lodging",
    ):
        assert expected in text
    assert "https://hostalnusta.pe" in text


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("ruc", "2060412345", "Enter the RUC: 11 digits"),
        ("ruc", "3060412345" + "1", "A RUC starts with one of"),
        (
            "ruc",
            valid_ruc("2060412345")[:-1] + str((int(valid_ruc("2060412345")[-1]) + 1) % 10),
            "check digit is wrong",
        ),
        ("branch_code", "12", "branch code"),
        ("legal_name", "", "legal name"),
        ("category", "casino", "category"),
        ("region", "PE-XXX", "region"),
        ("website", "not a site", "web site address"),
        ("phone", "call me", "phone"),
        ("trade_name", "x" * 100_000, "at most 200 characters"),
    ],
)
def test_bad_input_is_explained_and_nothing_is_saved(client, db, operator, field, value, message):
    data = establishment_form(**{field: value})
    response = post_form(client, "/establishments/new", data)
    assert response.status_code == 400
    assert message.lower() in (field_error(response, field) or "").lower()
    assert any(message.lower() in e.lower() for e in error_summary(response))
    assert page(response).title.get_text().startswith("Error:")
    kept = "address" if field != "address" else "district"
    assert field_value(response, kept) == data[kept]
    assert _count(db) == 0


def test_html_in_a_name_is_shown_as_text(client, operator):
    establishment_id = add_establishment(client, trade_name="<script>alert('x')</script> Hostal")
    response = client.get(f"/establishments/{establishment_id}")
    assert "<script>alert" not in response.text
    assert "&lt;script&gt;" in response.text
    assert page(response).h1.get_text() == "<script>alert('x')</script> Hostal"


def test_ruc_and_branch_already_registered_says_how_to_claim(client, db, operator):
    add_establishment(client)
    response = post_form(
        client, "/establishments/new", establishment_form(trade_name="Otro nombre")
    )
    assert response.status_code == 400
    assert "already registered" in field_error(response, "branch_code")
    assert "claim" in field_error(response, "branch_code")
    assert _count(db) == 1


def test_staff_cannot_add_establishments(client, db):
    make_user(db, "revisor@dircetur.pe", role="reviewer", regions=("PE-CUS",))
    sign_in(client, "revisor@dircetur.pe")
    assert client.get("/establishments/new").status_code == 403
    response = post_form(
        client, "/establishments/new", establishment_form(), form_page="/dashboard"
    )
    assert response.status_code == 403
    assert _count(db) == 0


def test_reviewer_sees_only_their_region(client, db):
    operator_client = client
    make_user(db, "rosa@hostal.pe")
    sign_in(operator_client, "rosa@hostal.pe")
    add_establishment(operator_client, trade_name="Hostal Cusco", region="PE-CUS")
    add_establishment(
        operator_client, trade_name="Lodge Loreto", region="PE-LOR", branch_code="0001"
    )
    post_form(operator_client, "/account/logout", {}, form_page="/dashboard")
    make_user(db, "revisor@dircetur.pe", role="reviewer", regions=("PE-CUS",))
    sign_in(client, "revisor@dircetur.pe")
    text = page(client.get("/dashboard")).get_text(" ", strip=True)
    assert "Hostal Cusco" in text
    assert "Lodge Loreto" not in text
