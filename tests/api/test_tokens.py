"""Personal API tokens on the account page and from the CLI: shown once, stored hashed, last used,
revocable; and one's own only."""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from typer.testing import CliRunner

from app.api.models import ApiToken
from tests.api.conftest import auth, is_problem
from tests.conftest import make_user, page, post_form, sign_in


def test_create_use_and_revoke_a_token_on_the_account_page(client, db):
    make_user(db, "rosa@hostal.pe")
    sign_in(client, "rosa@hostal.pe")
    assert "/account/tokens" in client.get("/dashboard").text
    response = post_form(client, "/account/tokens", {"name": "Motor de reservas"})
    assert response.status_code == 200
    token = page(response).find(id="new-token").get_text(strip=True)
    assert token.startswith("cdc_") and len(token) >= 40
    stored = db.scalars(select(ApiToken)).one()
    assert stored.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(stored.model_dump())
    # Shown once: the list names it, never shows it again.
    listing = client.get("/account/tokens")
    assert token not in listing.text and "Motor de reservas" in listing.text
    assert stored.prefix in listing.text
    # It works with the API, and the last use is recorded.
    api = client.__class__(client.app)
    assert api.get("/api/v1/establishments", headers=auth(token)).status_code == 200
    db.expire_all()
    assert db.scalars(select(ApiToken)).one().last_used_at is not None
    # Revoked: it stops working at once.
    response = post_form(
        client, f"/account/tokens/{stored.id}/revoke", {}, form_page="/account/tokens"
    )
    assert response.status_code == 303
    is_problem(api.get("/api/v1/establishments", headers=auth(token)), 401, "unauthorized")
    after = client.get("/account/tokens")
    assert "Motor de reservas" in after.text  # the flash says which was revoked
    assert page(after).find("table") is None


def test_a_name_is_needed(client, db):
    make_user(db, "rosa@hostal.pe")
    sign_in(client, "rosa@hostal.pe")
    response = post_form(client, "/account/tokens", {"name": "  "})
    assert response.status_code == 400
    assert page(response).find(id="new-token") is None
    assert db.scalars(select(ApiToken)).first() is None


def test_nobody_revokes_another_persons_token(client, db):
    from app.api.tokens import create_token

    owner = make_user(db, "owner@hostal.pe")
    record, token = create_token(db_session=db, user=owner, name="theirs")
    db.commit()
    make_user(db, "intruso@otro.pe")
    sign_in(client, "intruso@otro.pe")
    response = post_form(
        client, f"/account/tokens/{record.id}/revoke", {}, form_page="/account/tokens"
    )
    assert response.status_code == 404
    db.expire_all()
    assert db.get(ApiToken, record.id).revoked_at is None
    assert "theirs" not in client.get("/account/tokens").text


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get("/account/tokens")
    assert response.status_code == 303 and response.headers["location"].startswith("/account/login")


def test_portal_tokens_create(app, db, monkeypatch):
    from app import cli
    from app.config import get_settings

    make_user(db, "rosa@hostal.pe")
    monkeypatch.setenv("PORTAL_DATABASE_URL", app.state.settings.database_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            cli.app, ["tokens", "create", "--email", "rosa@hostal.pe", "--name", "ERP"]
        )
        unknown = CliRunner().invoke(cli.app, ["tokens", "create", "--email", "nadie@x.pe"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert token.startswith("cdc_")
    from fastapi.testclient import TestClient

    with TestClient(app) as api:
        assert api.get("/api/v1/periods", headers=auth(token)).status_code == 200
    assert unknown.exit_code == 2
