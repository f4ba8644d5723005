"""Pages anyone can open, error pages, security headers, and the settings' refusals."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.config import DEV_SECRET, Settings
from tests.conftest import make_user, page, post_form, sign_in


@pytest.mark.parametrize(
    "path", ["/", "/code", "/privacy", "/register", "/account/login", "/account/register"]
)
def test_public_pages_open_and_link_home(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert page(response).find("a", href="/")
    assert "content-security-policy" in response.headers
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_home_links_to_register_sign_in_and_the_public_register(client):
    links = {a["href"] for a in page(client.get("/")).find_all("a", href=True)}
    assert {"/account/register", "/account/login", "/register"} <= links


def test_code_page_shows_every_commitment(client):
    from app.jurisdiction import current_scheme

    text = page(client.get("/code")).get_text(" ", strip=True)
    for commitment in current_scheme().current_code().commitments:
        assert " ".join(commitment.title["es"].split()) in text


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/no-such-page", 404),
        ("/establishments/abc", 303),
        # A shared register URL with a nonsense page number shows the first page.
        ("/register?page=abc", 200),
        ("/register?page=-1", 200),
    ],
)
def test_bad_addresses_get_a_page_not_a_crash(client, path, status):
    response = client.get(path)
    assert response.status_code == status
    if status != 303:
        assert page(response).h1.get_text(strip=True)


def test_signed_in_bad_id_is_not_found(client, db):
    make_user(db, "rosa@hostal.pe")
    sign_in(client, "rosa@hostal.pe")
    assert client.get("/establishments/abc").status_code == 404
    assert client.get("/establishments/999999999999999999999").status_code == 404
    assert client.get("/establishments/424242").status_code == 404


def test_register_search_finds_signatories_only_with_business_data(client, db):
    from tests.conftest import SIGNATURE, add_establishment

    make_user(db, "rosa@hostal.pe")
    sign_in(client, "rosa@hostal.pe")
    signed = add_establishment(client, trade_name="Hostal Ñusta")
    add_establishment(client, trade_name="Hostal Sin Firma", branch_code="0001")
    post_form(client, f"/establishments/{signed}/sign", SIGNATURE)
    response = client.get("/register", params={"q": "hostal"})
    text = page(response).get_text(" ", strip=True)
    assert "Hostal Ñusta" in text
    assert "Hostal Sin Firma" not in text
    assert "Rosa Quispe Mamani" not in response.text
    assert "41234567" not in response.text
    assert "rosa@hostal.pe" not in response.text


def test_production_refuses_the_default_secret(monkeypatch):
    monkeypatch.delenv("PORTAL_PASSWORD_HASH_COST")  # the suite's cheap hashing is refused too
    with pytest.raises(ValidationError, match="PORTAL_SECRET_KEY"):
        Settings(environment="production", secret_key=DEV_SECRET)
    with pytest.raises(ValidationError, match="PORTAL_SECRET_KEY"):
        Settings(environment="production", secret_key="short")
    assert Settings(environment="production", secret_key="x" * 40).environment == "production"
