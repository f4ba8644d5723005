"""Accounts as a person meets them: registering, confirming the address, bad input, links that
expire or were used, resetting a password, and the language they read the portal in."""

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.auth.models import AccountToken, User
from app.db import utcnow
from tests.conftest import (
    PASSWORD,
    error_summary,
    field_error,
    field_value,
    flash_text,
    make_user,
    page,
    post_form,
    sign_in,
)

NEW_PASSWORD = "Colca-Condor-Vuelo-77"


# --- small helpers ------


def _english(client: TestClient) -> None:
    response = post_form(client, "/language", {"lang": "en", "next": "/"}, form_page="/")
    assert response.status_code == 303


def _register(client: TestClient, email: str, password: str = NEW_PASSWORD, **overrides: str):
    data = {"email": email, "password": password, "password_confirm": password, "privacy": "yes"}
    data.update(overrides)
    return post_form(client, "/account/register", data)


def _login(client: TestClient, email: str, password: str):
    return post_form(client, "/account/login", {"email": email, "password": password})


def _users(db) -> int:
    return db.scalar(select(func.count()).select_from(User))


def _user(db, email: str) -> User:
    db.expire_all()
    return db.scalars(select(User).where(User.email == email)).one()


def _tokens(db, email: str, purpose: str) -> list[AccountToken]:
    db.expire_all()
    user = _user(db, email)
    return list(
        db.scalars(
            select(AccountToken).where(
                AccountToken.user_id == user.id, AccountToken.purpose == purpose
            )
        )
    )


def _expire_links(db, email: str, purpose: str) -> None:
    for token in _tokens(db, email, purpose):
        token.expires_at = utcnow() - timedelta(minutes=1)
    db.commit()


def _title(response) -> str:
    return page(response).title.get_text(" ", strip=True)


def _lead(response) -> str:
    node = page(response).select_one("main .lead")
    return node.get_text(" ", strip=True) if node else ""


def _signed_in(client: TestClient) -> bool:
    response = client.get("/dashboard")
    if response.status_code == 200:
        return True
    assert response.status_code == 303
    assert response.headers["location"].startswith("/account/login")
    return False


def _form_posting_to(response, action: str):
    return page(response).find("form", {"action": action})


def _registered_and_mailed(client: TestClient, mailbox, email: str) -> str:
    """Register `email` and return the path of the confirmation link mailed to it."""
    response = _register(client, email)
    assert response.status_code == 303, error_summary(response)
    return mailbox.link_in_last(email, "/account/confirm/")


def _reset_link(client: TestClient, mailbox, email: str) -> str:
    response = post_form(client, "/account/password/forgot", {"email": email})
    assert response.status_code == 303, error_summary(response)
    return mailbox.link_in_last(email, "/account/password/reset/")


def _set_password(client: TestClient, link: str, password: str, form_page: str | None = None):
    data = {"password": password, "password_confirm": password}
    return post_form(client, link, data, form_page=form_page)


# --- 1. registering and confirming ------


def test_register_page_tells_how_personal_data_is_used(client):
    response = client.get("/account/register")
    assert response.status_code == 200
    form = _form_posting_to(response, "/account/register")
    # The notice is part of the form itself, next to the box that says it was read.
    assert "29733" in form.get_text(" ", strip=True)
    assert form.find("input", {"type": "checkbox", "name": "privacy"}) is not None


def test_register_confirm_by_button_then_sign_in(client, db, mailbox):
    _english(client)
    response = _register(client, "rosa@hostal.pe")
    assert response.status_code == 303
    assert response.headers["location"] == "/account/register/sent"
    assert "Check your e-mail" in _title(client.get("/account/register/sent"))

    # Before confirming, signing in is refused and says why.
    refused = _login(client, "rosa@hostal.pe", NEW_PASSWORD)
    assert refused.status_code == 400
    assert any("Confirm your e-mail address first" in m for m in error_summary(refused))
    assert not _signed_in(client)

    mail = mailbox.last_to("rosa@hostal.pe")
    assert "Confirm your e-mail address" in mail["Subject"]
    link = mailbox.link_in_last("rosa@hostal.pe", "/account/confirm/")
    # Only a digest of the token is kept: the database alone cannot be used to confirm.
    assert all(token.id not in link for token in _tokens(db, "rosa@hostal.pe", "confirm_email"))

    # Opening the link (as a mail scanner would) only shows a button.
    opened = client.get(link)
    assert opened.status_code == 200
    button_form = _form_posting_to(opened, link)
    assert button_form is not None and button_form.find("button", {"type": "submit"})
    assert _user(db, "rosa@hostal.pe").email_confirmed_at is None

    confirmed = post_form(client, link, {})
    assert confirmed.status_code == 303
    assert confirmed.headers["location"] == "/account/login"
    assert "Your e-mail address is confirmed" in flash_text(client.get("/account/login"))
    assert _user(db, "rosa@hostal.pe").email_confirmed_at is not None

    signed = _login(client, "rosa@hostal.pe", NEW_PASSWORD)
    assert signed.status_code == 303
    assert signed.headers["location"] == "/dashboard"
    assert _signed_in(client)


# --- 2. bad input ------

EMAIL = "quispe.rosa@hostal.pe"

BAD_INPUT = {
    "short password": (
        {"password": "Qx-2026-a", "password_confirm": "Qx-2026-a"},
        "password",
        "Enter a password of at least 10 characters",
    ),
    "common password": (
        {"password": "password123", "password_confirm": "password123"},
        "password",
        "This password is too easy to guess",
    ),
    "password holds the e-mail": (
        {"password": "Quispe.Rosa-2026", "password_confirm": "Quispe.Rosa-2026"},
        "password",
        "This password is too easy to guess",
    ),
    "repeat differs": (
        {"password_confirm": NEW_PASSWORD + "!"},
        "password_confirm",
        "The two passwords are not the same",
    ),
    "e-mail without domain": (
        {"email": "quispe.rosa@"},
        "email",
        "Enter an e-mail address in the right format",
    ),
    "e-mail without @": (
        {"email": "quispe.rosa.hostal.pe"},
        "email",
        "Enter an e-mail address in the right format",
    ),
    "e-mail missing": ({"email": ""}, "email", "Enter your e-mail address"),
    "privacy not ticked": (
        {"privacy": ""},
        "privacy",
        "Confirm that you have read how your personal data is used",
    ),
}


@pytest.mark.parametrize("change", BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_register_bad_input_is_shown_beside_the_field_and_saves_nothing(
    client, db, mailbox, change
):
    overrides, name, message = change
    _english(client)
    data = {
        "email": EMAIL,
        "password": NEW_PASSWORD,
        "password_confirm": NEW_PASSWORD,
        "privacy": "yes",
        **overrides,
    }
    response = post_form(client, "/account/register", data)

    assert response.status_code == 400
    assert _title(response).startswith("Error:")
    assert field_error(response, name).startswith(message)
    summary = page(response).select(".error-summary__list a")
    assert any(
        a["href"] == f"#field-{name}" and a.get_text(strip=True).startswith(message)
        for a in summary
    )
    assert page(response).find(id=f"field-{name}") is not None  # the summary link has a target
    assert field_value(response, "email") == data["email"]
    for secret in ("password", "password_confirm"):
        assert page(response).find("input", {"name": secret}).get("value") is None
    for typed in {data["password"], data["password_confirm"]}:
        assert typed not in response.text
    assert _users(db) == 0
    assert mailbox.messages == []


def test_register_with_huge_values_answers_with_messages_not_a_crash(client, db, mailbox):
    _english(client)
    huge = {
        "email": "e" * 100_000,
        "password": "p" * 100_000,
        "password_confirm": "q" * 100_000,
        "privacy": "y" * 100_000,
    }
    response = post_form(client, "/account/register", huge)
    assert response.status_code == 400
    assert _title(response).startswith("Error:")
    assert field_error(response, "email") == "Enter an e-mail address of at most 254 characters"
    assert field_error(response, "password") == "Enter a password of at most 128 characters"
    assert field_error(response, "privacy") == (
        "Confirm that you have read how your personal data is used"
    )
    assert len(error_summary(response)) == 3
    assert field_value(response, "email") == huge["email"]
    assert "p" * 200 not in response.text and "q" * 200 not in response.text
    assert _users(db) == 0
    assert mailbox.messages == []


@pytest.mark.parametrize(
    ("path", "fields", "name"),
    [
        # A failed sign-in does not say which of the two was wrong: the message is in the summary.
        ("/account/login", ("email", "password"), None),
        ("/account/password/forgot", ("email",), "email"),
        ("/account/confirm/resend", ("email",), "email"),
    ],
)
def test_other_account_forms_take_huge_values_without_a_crash(client, db, path, fields, name):
    _english(client)
    make_user(db, "rosa@hostal.pe")
    response = post_form(client, path, dict.fromkeys(fields, "x" * 100_000))
    assert response.status_code == 400
    assert error_summary(response)
    if name:
        assert field_error(response, name)
    assert _title(response).startswith("Error:")
    assert not _signed_in(client)


def test_reset_form_takes_huge_values_without_a_crash(client, db, mailbox):
    make_user(db, "rosa@hostal.pe")
    link = _reset_link(client, mailbox, "rosa@hostal.pe")
    response = _set_password(client, link, "z" * 100_000)
    assert response.status_code == 400
    assert field_error(response, "password")
    assert "z" * 200 not in response.text
    assert _login(client, "rosa@hostal.pe", PASSWORD).status_code == 303


# --- 3. an address that already has an account ------


def test_registering_a_known_address_looks_like_success_and_warns_the_owner(client, db, mailbox):
    make_user(db, "rosa@hostal.pe")
    fresh = _register(client, "nuevo@hostal.pe")
    again = _register(client, "Rosa@Hostal.pe", password="Otra-Clave-Segura-9")

    assert again.status_code == fresh.status_code == 303
    assert again.headers["location"] == fresh.headers["location"]
    assert _users(db) == 2
    assert _tokens(db, "rosa@hostal.pe", "confirm_email") == []

    mails = mailbox.to("rosa@hostal.pe")
    assert len(mails) == 1
    body = mailbox.body(mails[0])
    assert "/account/password/forgot" in body
    assert "/account/confirm/" not in body

    # The owner's password is untouched; the one typed by whoever registered does nothing.
    assert _login(client, "rosa@hostal.pe", "Otra-Clave-Segura-9").status_code == 400
    assert _login(client, "rosa@hostal.pe", PASSWORD).status_code == 303


# --- 4. links that were used, have expired, or never existed ------


def test_confirmation_link_works_once(client, db, mailbox):
    _english(client)
    link = _registered_and_mailed(client, mailbox, "rosa@hostal.pe")
    assert post_form(client, link, {}).status_code == 303

    opened = client.get(link)
    assert opened.status_code == 400
    assert "This link has already been used" in _lead(opened)
    assert _form_posting_to(opened, link) is None

    posted = post_form(client, link, {}, form_page="/")
    assert posted.status_code == 400
    assert "This link has already been used" in _lead(posted)


def test_expired_confirmation_link_is_refused_and_a_new_one_can_be_sent(client, db, mailbox):
    _english(client)
    link = _registered_and_mailed(client, mailbox, "rosa@hostal.pe")
    _expire_links(db, "rosa@hostal.pe", "confirm_email")

    opened = client.get(link)
    assert opened.status_code == 400
    assert "This link has expired" in _lead(opened)
    assert page(opened).find("a", href="/account/confirm/resend") is not None

    posted = post_form(client, link, {}, form_page="/")
    assert posted.status_code == 400
    assert "This link has expired" in _lead(posted)
    assert _user(db, "rosa@hostal.pe").email_confirmed_at is None

    resent = post_form(client, "/account/confirm/resend", {"email": "rosa@hostal.pe"})
    assert resent.status_code == 303
    new_link = mailbox.link_in_last("rosa@hostal.pe", "/account/confirm/")
    assert new_link != link
    assert post_form(client, new_link, {}).status_code == 303
    assert _user(db, "rosa@hostal.pe").email_confirmed_at is not None


def test_made_up_or_wrong_kind_of_link_is_not_valid(client, db, mailbox):
    _english(client)
    make_user(db, "rosa@hostal.pe")
    reset_link = _reset_link(client, mailbox, "rosa@hostal.pe")
    token = reset_link.rsplit("/", 1)[1]

    for path in (
        "/account/confirm/not-a-real-token",
        f"/account/confirm/{token}",  # a reset link's token does not confirm
        "/account/password/reset/not-a-real-token",
    ):
        response = client.get(path)
        assert response.status_code == 400, path
        assert "This link is not valid" in _lead(response), path


def test_reset_link_works_once(client, db, mailbox):
    _english(client)
    make_user(db, "rosa@hostal.pe")
    link = _reset_link(client, mailbox, "rosa@hostal.pe")
    assert _set_password(client, link, NEW_PASSWORD).status_code == 303

    opened = client.get(link)
    assert opened.status_code == 400
    assert "This link has already been used" in _lead(opened)
    assert _form_posting_to(opened, link) is None

    reused = _set_password(client, link, "Tercera-Clave-Larga-5", form_page="/")
    assert reused.status_code == 400
    assert "This link has already been used" in _lead(reused)
    assert _login(client, "rosa@hostal.pe", "Tercera-Clave-Larga-5").status_code == 400
    assert _login(client, "rosa@hostal.pe", NEW_PASSWORD).status_code == 303


NO_LONGER = "This link no longer works: the password was changed after it was sent"


def test_an_older_reset_link_dies_when_a_newer_one_is_used(client, db, mailbox):
    _english(client)
    make_user(db, "rosa@hostal.pe")
    older = _reset_link(client, mailbox, "rosa@hostal.pe")
    newer = _reset_link(client, mailbox, "rosa@hostal.pe")
    assert older != newer
    assert _set_password(client, newer, NEW_PASSWORD).status_code == 303

    opened = client.get(older)
    assert opened.status_code == 400
    assert NO_LONGER in _lead(opened)
    assert _form_posting_to(opened, older) is None
    posted = _set_password(client, older, "Tercera-Clave-Larga-5", form_page="/")
    assert posted.status_code == 400
    assert NO_LONGER in _lead(posted)
    assert _login(client, "rosa@hostal.pe", "Tercera-Clave-Larga-5").status_code == 400
    assert _login(client, "rosa@hostal.pe", NEW_PASSWORD).status_code == 303


def test_a_reset_link_dies_when_the_password_is_changed_signed_in(client, db, mailbox):
    _english(client)
    make_user(db, "rosa@hostal.pe")
    link = _reset_link(client, mailbox, "rosa@hostal.pe")
    assert _login(client, "rosa@hostal.pe", PASSWORD).status_code == 303
    changed = post_form(
        client,
        "/account/password",
        {"current_password": PASSWORD, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
    )
    assert changed.status_code == 303, error_summary(changed)
    post_form(client, "/account/logout", {}, form_page="/dashboard")

    posted = _set_password(client, link, "Tercera-Clave-Larga-5", form_page="/")
    assert posted.status_code == 400
    assert NO_LONGER in _lead(posted)
    assert _login(client, "rosa@hostal.pe", NEW_PASSWORD).status_code == 303


def test_expired_reset_link_changes_nothing(client, db, mailbox):
    _english(client)
    make_user(db, "rosa@hostal.pe")
    link = _reset_link(client, mailbox, "rosa@hostal.pe")
    _expire_links(db, "rosa@hostal.pe", "reset_password")

    opened = client.get(link)
    assert opened.status_code == 400
    assert "This link has expired" in _lead(opened)
    assert page(opened).find("a", href="/account/password/forgot") is not None

    posted = _set_password(client, link, NEW_PASSWORD, form_page="/")
    assert posted.status_code == 400
    assert "This link has expired" in _lead(posted)
    assert _login(client, "rosa@hostal.pe", NEW_PASSWORD).status_code == 400
    assert _login(client, "rosa@hostal.pe", PASSWORD).status_code == 303


# --- 5. resetting a password ------


def test_forgot_password_answers_alike_and_mails_only_a_known_address(client, db, mailbox):
    make_user(db, "rosa@hostal.pe")
    known = post_form(client, "/account/password/forgot", {"email": "rosa@hostal.pe"})
    unknown = post_form(client, "/account/password/forgot", {"email": "nadie@hostal.pe"})

    assert known.status_code == unknown.status_code == 303
    assert known.headers["location"] == unknown.headers["location"] == "/account/password/sent"
    assert client.get("/account/password/sent").status_code == 200
    assert mailbox.to("nadie@hostal.pe") == []
    assert len(mailbox.to("rosa@hostal.pe")) == 1
    assert mailbox.link_in_last("rosa@hostal.pe", "/account/password/reset/")


def test_reset_sets_the_new_password_and_signs_out_everywhere(client, app, db, mailbox):
    _english(client)
    make_user(db, "rosa@hostal.pe")
    with TestClient(app, follow_redirects=False) as other_browser:
        sign_in(other_browser, "rosa@hostal.pe")
        assert _signed_in(other_browser)

        link = _reset_link(client, mailbox, "rosa@hostal.pe")
        opened = client.get(link)
        assert opened.status_code == 200
        assert _form_posting_to(opened, link) is not None

        changed = _set_password(client, link, NEW_PASSWORD)
        assert changed.status_code == 303
        assert changed.headers["location"] == "/account/login"
        assert "Your password has been changed" in flash_text(client.get("/account/login"))

        assert not _signed_in(other_browser)

    assert _login(client, "rosa@hostal.pe", PASSWORD).status_code == 400
    assert _login(client, "rosa@hostal.pe", NEW_PASSWORD).status_code == 303
    # The owner is told, so a change they did not make is noticed (in Spanish: the account's).
    told = mailbox.last_to("rosa@hostal.pe")
    assert "contraseña" in told["Subject"].lower()
    assert "/account/password/forgot" in mailbox.body(told)


def test_reset_refuses_a_weak_password_and_the_link_still_works(client, db, mailbox):
    _english(client)
    make_user(db, "quispe.rosa@hostal.pe")
    link = _reset_link(client, mailbox, "quispe.rosa@hostal.pe")

    weak = _set_password(client, link, "Quispe.Rosa-Cusco")
    assert weak.status_code == 400
    assert _title(weak).startswith("Error:")
    assert field_error(weak, "password").startswith("This password is too easy to guess")
    assert "Quispe.Rosa-Cusco" not in weak.text

    assert _set_password(client, link, NEW_PASSWORD).status_code == 303
    assert _login(client, "quispe.rosa@hostal.pe", NEW_PASSWORD).status_code == 303


# --- 9. language ------


def _html_lang(response) -> str:
    return str(page(response).html["lang"])


def test_language_switch_is_remembered_in_a_cookie(client):
    assert _html_lang(client.get("/")) == "es"
    response = post_form(client, "/language", {"lang": "en", "next": "/privacy"}, form_page="/")
    assert response.status_code == 303
    assert response.headers["location"] == "/privacy"
    assert client.cookies.get("portal_lang") == "en"
    assert _html_lang(client.get("/privacy")) == "en"

    post_form(client, "/language", {"lang": "es", "next": "/"}, form_page="/")
    assert _html_lang(client.get("/")) == "es"


def test_signed_in_choice_is_kept_on_the_account_and_used_for_mail(client, app, db, mailbox):
    make_user(db, "rosa@hostal.pe")
    assert _user(db, "rosa@hostal.pe").locale == "es"
    sign_in(client, "rosa@hostal.pe")
    post_form(client, "/language", {"lang": "en", "next": "/dashboard"}, form_page="/dashboard")
    assert _user(db, "rosa@hostal.pe").locale == "en"

    # Another browser, with no language cookie, gets the account's language at sign-in.
    with TestClient(app, follow_redirects=False) as phone:
        sign_in(phone, "rosa@hostal.pe")
        assert phone.cookies.get("portal_lang") == "en"
        assert _html_lang(phone.get("/dashboard")) == "en"

    # Mail follows the account's language, whatever the language of the browser that asks.
    with TestClient(app, follow_redirects=False) as anonymous:
        _reset_link(anonymous, mailbox, "rosa@hostal.pe")
    assert mailbox.last_to("rosa@hostal.pe")["Subject"] == (
        "Choose a new password – Code of Conduct portal"
    )


def test_forged_language_post_changes_only_the_cookie_not_the_account(client, db):
    make_user(db, "rosa@hostal.pe")
    sign_in(client, "rosa@hostal.pe")
    response = client.post("/language", data={"lang": "en", "next": "/dashboard"})
    assert response.status_code == 303
    assert _user(db, "rosa@hostal.pe").locale == "es"


@pytest.mark.parametrize(
    "target",
    ["https://evil.example", "//evil.example", "/\\evil.example", "javascript:alert(1)"],
)
def test_language_switch_never_sends_you_to_another_site(client, target):
    response = post_form(client, "/language", {"lang": "en", "next": target}, form_page="/")
    assert response.status_code == 303
    assert response.headers["location"] == "/"
