"""Suspending, reinstating and revoking a signature (staff of its region) and withdrawing from the
Code (its operator): every transition allowed and refused, who may do it, and what follows at once
(standing on the dashboard and in the public register, the operator's mail, the audit log)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.audit.models import AuditEntry
from app.conduct.models import Signature
from tests import factories
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
    wait_for,
)

OPERATOR = "rosa@hostal.pe"
REVIEWER = "ana@dircetur-cusco.gob.pe"
NOT_ALLOWED = "This signatory's status does not allow that now"


def _english(client: TestClient) -> None:
    assert (
        post_form(client, "/language", {"lang": "en", "next": "/"}, form_page="/").status_code
        == 303
    )


def _browser(app, email: str | None = None) -> TestClient:
    browser = TestClient(app, follow_redirects=False)
    browser.__enter__()
    if email:
        sign_in(browser, email)
    _english(browser)
    return browser


@pytest.fixture
def establishment_id(client, db) -> int:
    """Hostal Ñusta in Cusco, signed by its operator (whose browser is `client`, in English)."""
    return factories.operator_with_signed_establishment(client, db, OPERATOR)


@pytest.fixture
def signed_on_the_form(client, db) -> int:
    """As `establishment_id`, but signed through the form: the operator has the acknowledgement."""
    make_user(db, OPERATOR)
    sign_in(client, OPERATOR)
    _english(client)
    establishment_id = add_establishment(client)
    assert (
        post_form(client, f"/establishments/{establishment_id}/sign", SIGNATURE).status_code == 303
    )
    return establishment_id


@pytest.fixture
def reviewer(app, db) -> Iterator[TestClient]:
    make_user(db, REVIEWER, role="reviewer", regions=("PE-CUS",))
    browser = _browser(app, REVIEWER)
    yield browser
    browser.__exit__(None, None, None)


def _act(client: TestClient, establishment_id: int, action: str, **data: str):  # type: ignore[no-untyped-def]
    return post_form(
        client,
        f"/establishments/{establishment_id}/signature/{action}",
        data,
        form_page=f"/establishments/{establishment_id}",
    )


def _status(db) -> str:
    db.expire_all()
    return db.scalars(select(Signature.status)).one()


def _signature(db) -> Signature:
    db.expire_all()
    return db.scalars(select(Signature)).one()


def _audit(db) -> list[AuditEntry]:
    db.expire_all()
    return list(db.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def _forms_on_page(client: TestClient, establishment_id: int) -> list[str]:
    detail = page(client.get(f"/establishments/{establishment_id}"))
    prefix = f"/establishments/{establishment_id}/signature/"
    return [
        f["action"].removeprefix(prefix)
        for f in detail.find_all("form", action=True)
        if f["action"].startswith(prefix)
    ]


def _standing(client: TestClient, establishment_id: int) -> str:
    detail = page(client.get(f"/establishments/{establishment_id}"))
    paragraph = next(p for p in detail.find_all("p") if "Standing:" in p.get_text())
    return paragraph.strong.get_text(strip=True)


def _register_standing(app) -> str:
    with TestClient(app) as public:
        public.cookies.set("portal_lang", "en")
        rows = page(public.get("/register", params={"q": "hostal"})).select("tbody tr")
        assert len(rows) == 1
        return rows[0].find_all("td")[-1].get_text(strip=True)


def _dashboard_standing(client: TestClient) -> str:
    rows = page(client.get("/dashboard")).select("tbody tr")
    assert len(rows) == 1
    return rows[0].find_all("td")[-1].get_text(strip=True)


# --- the transitions ------


def test_suspend_then_reinstate(app, client, db, mailbox, establishment_id, reviewer):
    assert _forms_on_page(reviewer, establishment_id) == ["suspend", "revoke"]
    response = _act(
        reviewer, establishment_id, "suspend", suspend_reason="  Poster not displayed  "
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/establishments/{establishment_id}"
    detail = reviewer.get(response.headers["location"])
    assert "suspended" in flash_text(detail)
    assert _status(db) == "suspended"
    assert _signature(db).status_reason == "Poster not displayed"
    assert _signature(db).status_changed_at is not None
    text = page(detail).select_one(".signed-box").get_text(" ", strip=True)
    assert "Suspended" in text and "Poster not displayed" in text and "Status changed on" in text
    assert _forms_on_page(reviewer, establishment_id) == ["reinstate", "revoke"]

    # Suspending again is refused, and nothing changes.
    response = _act(reviewer, establishment_id, "suspend", suspend_reason="Twice")
    assert response.status_code == 400
    assert NOT_ALLOWED in error_summary(response)
    assert page(response).title.get_text().startswith("Error:")
    assert _signature(db).status_reason == "Poster not displayed"

    response = _act(
        reviewer, establishment_id, "reinstate", reinstate_reason="Poster now displayed"
    )
    assert response.status_code == 303
    assert "in force again" in flash_text(reviewer.get(response.headers["location"]))
    assert _status(db) == "active"
    response = _act(reviewer, establishment_id, "reinstate", reinstate_reason="Again")
    assert response.status_code == 400
    assert NOT_ALLOWED in error_summary(response)
    assert _status(db) == "active"
    assert [e.action for e in _audit(db)] == ["signature.suspend", "signature.reinstate"]


@pytest.mark.parametrize("from_status", ["active", "suspended"])
def test_revoked_is_final(client, db, establishment_id, reviewer, from_status):
    if from_status == "suspended":
        _act(reviewer, establishment_id, "suspend", suspend_reason="Inspection pending")
    response = _act(
        reviewer, establishment_id, "revoke", revoke_reason="Case confirmed", revoke_confirm="yes"
    )
    assert response.status_code == 303
    assert "revoked" in flash_text(reviewer.get(response.headers["location"]))
    assert _status(db) == "revoked"
    assert _forms_on_page(reviewer, establishment_id) == []
    assert _forms_on_page(client, establishment_id) == []
    detail = page(reviewer.get(f"/establishments/{establishment_id}")).get_text(" ", strip=True)
    assert "has been revoked" in detail and "Case confirmed" in detail

    entries = len(_audit(db))
    for action, data in [
        ("suspend", {"suspend_reason": "x"}),
        ("reinstate", {"reinstate_reason": "x"}),
        ("revoke", {"revoke_reason": "x", "revoke_confirm": "yes"}),
    ]:
        response = _act(reviewer, establishment_id, action, **data)
        assert response.status_code == 400, action
        assert NOT_ALLOWED in error_summary(response)
    response = _act(
        client, establishment_id, "withdraw", withdraw_reason="x", withdraw_confirm="yes"
    )
    assert response.status_code == 400
    assert _status(db) == "revoked"
    assert len(_audit(db)) == entries
    # The operator is not offered to sign again.
    assert not page(client.get(f"/establishments/{establishment_id}")).find(
        "a", href=f"/establishments/{establishment_id}/sign"
    )


def test_revoking_needs_the_confirmation_and_keeps_the_reason_typed(db, establishment_id, reviewer):
    response = _act(reviewer, establishment_id, "revoke", revoke_reason="Case confirmed")
    assert response.status_code == 400
    assert "final" in field_error(response, "revoke_confirm")
    assert field_value(response, "revoke_reason") == "Case confirmed"
    assert page(response).find("a", href="#field-revoke_confirm")
    assert _status(db) == "active"
    assert _audit(db) == []


def test_the_operator_withdraws(app, client, db, mailbox, establishment_id):
    assert _forms_on_page(client, establishment_id) == ["withdraw"]
    response = _act(client, establishment_id, "withdraw", withdraw_reason="Closing the hostal")
    assert response.status_code == 400
    assert "withdraws" in field_error(response, "withdraw_confirm")
    assert field_value(response, "withdraw_reason") == "Closing the hostal"
    assert _status(db) == "active"

    response = _act(
        client,
        establishment_id,
        "withdraw",
        withdraw_reason="Closing the hostal",
        withdraw_confirm="yes",
    )
    assert response.status_code == 303
    detail = client.get(response.headers["location"])
    assert "withdrawn" in flash_text(detail)
    assert _status(db) == "withdrawn"
    text = page(detail).get_text(" ", strip=True)
    assert "has withdrawn from the Code" in text and "Closing the hostal" in text
    # Withdrawing is not final: the operator may sign again.
    assert page(detail).find("a", href=f"/establishments/{establishment_id}/sign")
    assert _dashboard_standing(client) == "Withdrawn"
    assert _register_standing(app) == "Withdrawn"
    entry = _audit(db)[-1]
    assert entry.action == "signature.withdraw" and entry.actor_email == OPERATOR
    assert wait_for(
        lambda: mailbox.to(OPERATOR) and "Withdrawal" in mailbox.to(OPERATOR)[-1]["Subject"]
    )


def test_a_suspended_signature_cannot_be_withdrawn(client, db, establishment_id, reviewer):
    _act(reviewer, establishment_id, "suspend", suspend_reason="Inspection pending")
    assert _forms_on_page(client, establishment_id) == []
    response = _act(
        client, establishment_id, "withdraw", withdraw_reason="x", withdraw_confirm="yes"
    )
    assert response.status_code == 400
    assert NOT_ALLOWED in error_summary(response)
    assert _status(db) == "suspended"


# --- who may ------


def test_a_reviewer_of_another_region_gets_not_found_and_nothing_changes(app, db, establishment_id):
    make_user(db, "luis@dircetur-lima.gob.pe", role="reviewer", regions=("PE-LIM", "PE-LMA"))
    lima = _browser(app, "luis@dircetur-lima.gob.pe")
    try:
        assert lima.get(f"/establishments/{establishment_id}").status_code == 404
        for action, data in [
            ("suspend", {"suspend_reason": "x"}),
            ("reinstate", {"reinstate_reason": "x"}),
            ("revoke", {"revoke_reason": "x", "revoke_confirm": "yes"}),
            ("withdraw", {"withdraw_reason": "x", "withdraw_confirm": "yes"}),
        ]:
            response = post_form(
                lima, f"/establishments/{establishment_id}/signature/{action}", data, "/dashboard"
            )
            assert response.status_code == 404, action
            assert "Hostal Ñusta" not in response.text
    finally:
        lima.__exit__(None, None, None)
    assert _status(db) == "active"
    assert _audit(db) == []


def test_a_national_reviewer_acts_in_every_region(app, db, establishment_id):
    make_user(db, "jefa@mincetur.gob.pe", role="national_reviewer")
    national = _browser(app, "jefa@mincetur.gob.pe")
    try:
        response = _act(national, establishment_id, "suspend", suspend_reason="National inspection")
        assert response.status_code == 303
    finally:
        national.__exit__(None, None, None)
    assert _status(db) == "suspended"


def test_operators_cannot_suspend_reinstate_or_revoke(app, client, db, establishment_id):
    # Its own operator: the page offers no such form, and a forged post is forbidden.
    for action, data in [
        ("suspend", {"suspend_reason": "x"}),
        ("reinstate", {"reinstate_reason": "x"}),
        ("revoke", {"revoke_reason": "x", "revoke_confirm": "yes"}),
    ]:
        assert _act(client, establishment_id, action, **data).status_code in (403, 404), action
    # Another operator does not even learn the establishment exists.
    make_user(db, "otro@hostal.pe")
    other = _browser(app, "otro@hostal.pe")
    try:
        for action in ("suspend", "withdraw"):
            response = post_form(
                other,
                f"/establishments/{establishment_id}/signature/{action}",
                {f"{action}_reason": "x", f"{action}_confirm": "yes"},
                "/dashboard",
            )
            assert response.status_code == 404
    finally:
        other.__exit__(None, None, None)
    assert _status(db) == "active"
    assert _audit(db) == []


def test_staff_cannot_withdraw_for_the_operator(db, establishment_id, reviewer):
    response = post_form(
        reviewer,
        f"/establishments/{establishment_id}/signature/withdraw",
        {"withdraw_reason": "x", "withdraw_confirm": "yes"},
        "/dashboard",
    )
    assert response.status_code == 404
    assert _status(db) == "active"


def test_unknown_actions_are_not_found(db, establishment_id, reviewer):
    for action in ("cancel", "delete", "SUSPEND", ""):
        response = post_form(
            reviewer,
            f"/establishments/{establishment_id}/signature/{action}",
            {"suspend_reason": "x"},
            "/dashboard",
        )
        assert response.status_code == 404, action
    assert reviewer.get(f"/establishments/{establishment_id}/signature/suspend").status_code in (
        404,
        405,
    )
    assert _status(db) == "active"


def test_signed_out_visitors_are_sent_to_sign_in(app, db, establishment_id):
    with TestClient(app, follow_redirects=False) as anonymous:
        response = anonymous.post(
            f"/establishments/{establishment_id}/signature/suspend", data={"suspend_reason": "x"}
        )
        assert response.status_code == 303
        assert response.headers["location"].startswith("/account/login")
    assert _status(db) == "active"


# --- what is asked ------


@pytest.mark.parametrize("reason", ["", "   ", "x" * 1001])
def test_a_reason_is_required(db, establishment_id, reviewer, reason):
    response = _act(reviewer, establishment_id, "suspend", suspend_reason=reason)
    assert response.status_code == 400
    message = field_error(response, "suspend_reason")
    assert message and ("reason" in message or "1000" in message)
    assert page(response).find("a", href="#field-suspend_reason")
    assert field_value(response, "suspend_reason") == reason.strip()
    assert _status(db) == "active"
    assert _audit(db) == []


def test_a_post_without_the_form_token_changes_nothing(db, establishment_id, reviewer):
    response = reviewer.post(
        f"/establishments/{establishment_id}/signature/suspend", data={"suspend_reason": "x"}
    )
    assert response.status_code == 400
    assert "expired" in " ".join(error_summary(response))
    assert _status(db) == "active"


# --- what follows at once ------


def test_standing_mail_and_audit_follow_at_once(
    app, client, db, mailbox, signed_on_the_form, reviewer
):
    establishment_id = signed_on_the_form
    assert _dashboard_standing(client) == "Good standing"
    assert _register_standing(app) == "Good standing"

    _act(reviewer, establishment_id, "suspend", suspend_reason="Poster not displayed")
    assert _standing(client, establishment_id) == "Suspended"
    assert _dashboard_standing(client) == "Suspended"
    assert _dashboard_standing(reviewer) == "Suspended"
    assert _register_standing(app) == "Suspended"
    assert wait_for(lambda: len(mailbox.to(OPERATOR)) == 2)  # the acknowledgement, then this
    mail = mailbox.last_to(OPERATOR)
    assert "Signature suspended" in mail["Subject"] and "Hostal Ñusta" in mail["Subject"]
    body = mailbox.body(mail)
    assert "Poster not displayed" in body
    assert f"/establishments/{establishment_id}" in body
    assert mailbox.to(REVIEWER) == []

    _act(reviewer, establishment_id, "revoke", revoke_reason="Case confirmed", revoke_confirm="yes")
    assert _standing(client, establishment_id) == "Revoked"
    assert _dashboard_standing(client) == "Revoked"
    assert _register_standing(app) == "Revoked"
    assert wait_for(lambda: len(mailbox.to(OPERATOR)) == 3)
    assert "Signature revoked" in mailbox.last_to(OPERATOR)["Subject"]

    number = _signature(db).signatory_number
    suspend, revoke = _audit(db)
    assert (suspend.action, revoke.action) == ("signature.suspend", "signature.revoke")
    assert suspend.actor_email == REVIEWER
    assert suspend.object_type == "signature" and suspend.object_id == number
    assert suspend.region == "PE-CUS"
    assert suspend.before == {"status": "active"}
    assert suspend.after == {"status": "suspended", "reason": "Poster not displayed"}
    assert revoke.before == {"status": "suspended"}
    assert revoke.after == {"status": "revoked", "reason": "Case confirmed"}
