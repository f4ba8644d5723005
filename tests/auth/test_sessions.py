"""Signing in and out as a person and an attacker meet it: forms that come from elsewhere, guessing
passwords, session cookies, and where you land after signing in."""

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select

from app.auth.models import LoginFailure, User, UserSession
from app.db import utcnow
from app.establishments.models import Establishment
from app.main import create_app, dispose_engines
from tests.conftest import (
    PASSWORD,
    csrf_of,
    error_summary,
    establishment_form,
    field_value,
    flash_text,
    make_user,
    page,
    post_form,
    sign_in,
)

EXPIRED_FORM = "This form had expired or did not come from this portal"
TOO_MANY = "Too many failed attempts to sign in"
NOT_RIGHT = "The e-mail address or the password is not right"
WRONG_PASSWORD = "Huascaran-Nevado-1"


# --- small helpers ------


def _english(client: TestClient) -> None:
    response = post_form(client, "/language", {"lang": "en", "next": "/"}, form_page="/")
    assert response.status_code == 303


def _count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


def _login(client: TestClient, email: str, password: str):
    return post_form(client, "/account/login", {"email": email, "password": password})


def _dashboard_redirects_to_login(client: TestClient) -> bool:
    response = client.get("/dashboard")
    return response.status_code == 303 and response.headers["location"].startswith("/account/login")


def _cookie_attributes(response, name: str) -> set[str]:
    """The attributes (lower-cased) of the Set-Cookie header for `name` in this response."""
    headers = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    assert len(headers) == 1, response.headers.get_list("set-cookie")
    return {part.strip().lower() for part in headers[0].split(";")[1:]}


def _title(response) -> str:
    return page(response).title.get_text(" ", strip=True)


def _other_session_token(app) -> str:
    """A genuine token, but from another browser's session (what a forging site could obtain)."""
    with TestClient(app, follow_redirects=False) as other:
        return csrf_of(other, "/account/register")


def _refused_as_expired(response) -> None:
    assert response.status_code == 400
    assert _title(response).startswith("Error:")
    assert any(EXPIRED_FORM in message for message in error_summary(response))


def _token_for(kind: str, app) -> dict[str, str]:
    return {} if kind == "none" else {"csrf_token": _other_session_token(app)}


TOKEN_KINDS = ["none", "other session"]


# --- 6. CSRF ------

REGISTRATION = {
    "email": "rosa@hostal.pe",
    "password": "Colca-Condor-Vuelo-77",
    "password_confirm": "Colca-Condor-Vuelo-77",
    "privacy": "yes",
}


@pytest.mark.parametrize("token", TOKEN_KINDS)
def test_register_without_a_valid_token_saves_nothing(client, app, db, mailbox, token):
    _english(client)
    client.get("/account/register")
    response = client.post("/account/register", data={**REGISTRATION, **_token_for(token, app)})
    _refused_as_expired(response)
    assert field_value(response, "email") == "rosa@hostal.pe"
    assert _count(db, User) == 0
    assert mailbox.messages == []

    assert post_form(client, "/account/register", REGISTRATION).status_code == 303
    assert _count(db, User) == 1


@pytest.mark.parametrize("token", TOKEN_KINDS)
def test_login_without_a_valid_token_signs_nobody_in(client, app, db, token):
    _english(client)
    make_user(db, "rosa@hostal.pe")
    client.get("/account/login")
    anonymous_sid = client.cookies["portal_sid"]
    credentials = {"email": "rosa@hostal.pe", "password": PASSWORD}
    response = client.post("/account/login", data={**credentials, **_token_for(token, app)})
    _refused_as_expired(response)
    assert client.cookies["portal_sid"] == anonymous_sid
    assert _dashboard_redirects_to_login(client)
    assert _count(db, UserSession) == 0

    assert post_form(client, "/account/login", credentials).status_code == 303
    assert client.get("/dashboard").status_code == 200


@pytest.mark.parametrize("token", TOKEN_KINDS)
def test_new_establishment_without_a_valid_token_saves_nothing(client, app, db, token):
    _english(client)
    make_user(db, "rosa@hostal.pe")
    sign_in(client, "rosa@hostal.pe")
    client.get("/establishments/new")
    data = establishment_form()
    response = client.post("/establishments/new", data={**data, **_token_for(token, app)})
    _refused_as_expired(response)
    assert field_value(response, "trade_name") == data["trade_name"]
    assert _count(db, Establishment) == 0

    assert post_form(client, "/establishments/new", data).status_code == 303
    assert _count(db, Establishment) == 1


def test_sign_out_without_a_valid_token_keeps_you_signed_in(client, db):
    _english(client)
    make_user(db, "rosa@hostal.pe")
    sign_in(client, "rosa@hostal.pe")
    response = client.post("/account/logout", data={})
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"
    dashboard = client.get("/dashboard")
    assert dashboard.status_code == 200
    assert "Sign out again" in flash_text(dashboard)


# --- 7. limits on guessing passwords ------


def test_five_wrong_passwords_lock_the_account_and_the_count_is_in_the_database(client, app, db):
    _english(client)
    make_user(db, "rosa@hostal.pe")
    for attempt in range(5):
        response = _login(client, "rosa@hostal.pe", WRONG_PASSWORD)
        assert response.status_code == 400
        assert error_summary(response) == [NOT_RIGHT], attempt

    locked = _login(client, "rosa@hostal.pe", PASSWORD)
    assert locked.status_code == 400
    assert any(message.startswith(TOO_MANY) for message in error_summary(locked))
    assert _dashboard_redirects_to_login(client)

    # Another instance of the portal (another worker, or after a restart) sees the same limit.
    other_app = create_app(app.state.settings)
    try:
        with TestClient(other_app, follow_redirects=False) as other:
            _english(other)
            refused = _login(other, "rosa@hostal.pe", PASSWORD)
            assert refused.status_code == 400
            assert any(message.startswith(TOO_MANY) for message in error_summary(refused))

            # ... and the limit is nothing but those rows: without them, the password works.
            db.execute(delete(LoginFailure))
            db.commit()
            assert _login(other, "rosa@hostal.pe", PASSWORD).status_code == 303
    finally:
        dispose_engines(other_app)


def test_twenty_failures_from_one_address_block_any_account_from_it(app, db):
    make_user(db, "rosa@hostal.pe")
    with TestClient(app, follow_redirects=False, client=("203.0.113.7", 50000)) as guesser:
        _english(guesser)
        for n in range(20):
            response = _login(guesser, f"cuenta{n}@hostal.pe", WRONG_PASSWORD)
            assert error_summary(response) == [NOT_RIGHT], n
        blocked = _login(guesser, "rosa@hostal.pe", PASSWORD)
        assert blocked.status_code == 400
        assert any(message.startswith(TOO_MANY) for message in error_summary(blocked))
        assert _dashboard_redirects_to_login(guesser)

    # The account itself was never guessed at: from elsewhere its owner signs in.
    with TestClient(app, follow_redirects=False, client=("198.51.100.9", 50000)) as owner:
        sign_in(owner, "rosa@hostal.pe")
        assert owner.get("/dashboard").status_code == 200


def test_a_locked_account_is_opened_again_by_resetting_the_password(client, db, mailbox):
    _english(client)
    make_user(db, "rosa@hostal.pe")
    for _ in range(5):
        _login(client, "rosa@hostal.pe", WRONG_PASSWORD)
    assert _login(client, "rosa@hostal.pe", PASSWORD).status_code == 400

    post_form(client, "/account/password/forgot", {"email": "rosa@hostal.pe"})
    link = mailbox.link_in_last("rosa@hostal.pe", "/account/password/reset/")
    new = "Colca-Condor-Vuelo-77"
    assert post_form(client, link, {"password": new, "password_confirm": new}).status_code == 303
    assert _login(client, "rosa@hostal.pe", new).status_code == 303


# --- 8. sessions and their cookie ------


def test_sign_in_gives_a_new_session_id_with_safe_cookie_attributes(client, app, db):
    make_user(db, "rosa@hostal.pe")
    first = client.get("/account/login")
    attributes = _cookie_attributes(first, "portal_sid")
    assert {"httponly", "samesite=lax"} <= attributes
    assert "secure" not in attributes  # plain http: a Secure cookie would never come back
    anonymous_sid = client.cookies["portal_sid"]

    response = post_form(
        client, "/account/login", {"email": "rosa@hostal.pe", "password": PASSWORD}
    )
    assert response.status_code == 303
    attributes = _cookie_attributes(response, "portal_sid")
    assert {"httponly", "samesite=lax"} <= attributes
    assert "secure" not in attributes
    signed_in_sid = client.cookies["portal_sid"]
    assert signed_in_sid != anonymous_sid

    # Someone who planted or saw the id from before sign-in gets nothing from it.
    with TestClient(app, follow_redirects=False, cookies={"portal_sid": anonymous_sid}) as old:
        assert _dashboard_redirects_to_login(old)


def test_session_cookie_is_secure_over_https(app):
    with TestClient(app, follow_redirects=False, base_url="https://testserver") as browser:
        attributes = _cookie_attributes(browser.get("/"), "portal_sid")
    assert {"httponly", "samesite=lax", "secure"} <= attributes


def test_sign_out_ends_the_session_on_the_server(client, app, db):
    _english(client)
    make_user(db, "rosa@hostal.pe")
    sign_in(client, "rosa@hostal.pe")
    signed_in_sid = client.cookies["portal_sid"]
    assert client.get("/dashboard").status_code == 200

    response = post_form(client, "/account/logout", {}, form_page="/dashboard")
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert response.headers["clear-site-data"] == '"cache", "storage"'
    assert "You have signed out" in flash_text(client.get("/"))
    assert client.cookies["portal_sid"] != signed_in_sid
    assert _dashboard_redirects_to_login(client)
    assert _count(db, UserSession) == 0

    # A copy of the old cookie (another tab, a stolen copy) no longer opens anything.
    with TestClient(app, follow_redirects=False, cookies={"portal_sid": signed_in_sid}) as copy:
        replay = copy.get("/dashboard")
        assert replay.status_code == 303
        assert replay.headers["location"] == "/account/login?next=/dashboard"


# --- 10. where you land after signing in ------


def _next_field(response) -> str:
    node = page(response).select_one('form[action="/account/login"] input[name="next"]')
    assert node is not None
    return str(node["value"])


def test_signed_out_visitor_lands_on_the_page_they_asked_for(client, db):
    make_user(db, "rosa@hostal.pe")
    asked = client.get("/dashboard")
    assert asked.status_code == 303
    login_path = asked.headers["location"]
    assert login_path == "/account/login?next=/dashboard"

    login_page = client.get(login_path)
    assert _next_field(login_page) == "/dashboard"
    response = post_form(
        client,
        "/account/login",
        {"email": "rosa@hostal.pe", "password": PASSWORD, "next": _next_field(login_page)},
        form_page=login_path,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"


@pytest.mark.parametrize(
    "target", ["https://evil.example/login", "//evil.example", "/\\evil.example"]
)
def test_next_pointing_to_another_site_is_ignored(client, db, target):
    make_user(db, "rosa@hostal.pe")
    login_page = client.get("/account/login", params={"next": target})
    assert login_page.status_code == 200
    assert _next_field(login_page) == ""

    response = post_form(
        client, "/account/login", {"email": "rosa@hostal.pe", "password": PASSWORD, "next": target}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"

    # Already signed in, the sign-in page sends you on: still never off the portal.
    again = client.get("/account/login", params={"next": target})
    assert again.status_code == 303
    assert again.headers["location"] == "/dashboard"


def test_nul_in_sign_in_email_is_a_message_not_a_crash(client):
    response = post_form(client, "/account/login", {"email": "rosa\x00@hostal.pe", "password": "x"})
    assert response.status_code == 400
    assert error_summary(response)


def test_nul_in_a_search_is_refused_not_a_crash(client):
    assert client.get("/register?q=a%00b").status_code == 400


# --- 11. password change and timeouts ------


def test_changing_the_password_ends_every_other_session_and_renews_this_one(
    client, app, db, mailbox
):
    _english(client)
    make_user(db, "rosa@hostal.pe")
    sign_in(client, "rosa@hostal.pe")
    before_change = client.cookies["portal_sid"]
    with TestClient(app, follow_redirects=False) as phone:
        sign_in(phone, "rosa@hostal.pe")
        assert phone.get("/dashboard").status_code == 200
        new_password = "Colca-Canyon-Condor-77"
        response = post_form(
            client,
            "/account/password",
            {
                "current_password": PASSWORD,
                "password": new_password,
                "password_confirm": new_password,
            },
        )
        assert response.status_code == 303, error_summary(response)
        assert "Every other browser" in flash_text(client.get("/dashboard"))
        # This browser goes on, under a new id; the old id and the other browser are signed out.
        assert client.cookies["portal_sid"] != before_change
        assert client.get("/dashboard").status_code == 200
        assert _dashboard_redirects_to_login(phone)
    with TestClient(app, follow_redirects=False, cookies={"portal_sid": before_change}) as copy:
        assert _dashboard_redirects_to_login(copy)
    assert _count(db, UserSession) == 1
    post_form(client, "/account/logout", {}, form_page="/dashboard")
    assert _login(client, "rosa@hostal.pe", PASSWORD).status_code == 400
    assert _login(client, "rosa@hostal.pe", new_password).status_code == 303
    told = mailbox.last_to("rosa@hostal.pe")
    assert "/account/password/forgot" in mailbox.body(told)


def test_a_wrong_current_password_changes_nothing(client, db, mailbox):
    _english(client)
    user = make_user(db, "rosa@hostal.pe")
    sign_in(client, "rosa@hostal.pe")
    response = post_form(
        client,
        "/account/password",
        {
            "current_password": WRONG_PASSWORD,
            "password": "Colca-Canyon-Condor-77",
            "password_confirm": "Colca-Canyon-Condor-77",
        },
    )
    assert response.status_code == 400
    assert "The current password is not right" in " ".join(error_summary(response))
    assert field_value(response, "current_password") == ""  # never echoed back
    assert mailbox.to("rosa@hostal.pe") == []
    db.expire_all()
    assert db.get(User, user.id).password_hash == user.password_hash
    assert client.get("/dashboard").status_code == 200


def _age_session(db, **ago: timedelta) -> None:
    record = db.scalars(select(UserSession)).one()
    for column, delta in ago.items():
        setattr(record, column, getattr(record, column) - delta)
    db.commit()


def test_a_session_idle_longer_than_the_limit_ends(client, app, db):
    make_user(db, "rosa@hostal.pe")
    sign_in(client, "rosa@hostal.pe")
    idle = timedelta(minutes=app.state.settings.session_idle_minutes)
    _age_session(db, last_seen_at=idle - timedelta(minutes=5), created_at=idle)
    assert client.get("/dashboard").status_code == 200  # still in time: seen again now
    db.expire_all()
    assert utcnow() - db.scalars(select(UserSession)).one().last_seen_at < timedelta(minutes=1)
    _age_session(db, last_seen_at=idle + timedelta(minutes=1))
    assert _dashboard_redirects_to_login(client)


def test_a_session_ends_after_the_absolute_limit_even_when_in_use(client, app, db):
    make_user(db, "rosa@hostal.pe")
    sign_in(client, "rosa@hostal.pe")
    absolute = timedelta(hours=app.state.settings.session_absolute_hours)
    _age_session(db, created_at=absolute - timedelta(minutes=1))
    assert client.get("/dashboard").status_code == 200
    _age_session(db, created_at=timedelta(minutes=2))
    assert _dashboard_redirects_to_login(client)  # used a second ago, but 12 hours old
