"""Administrators manage staff accounts: adding one, changing role and regions, disabling (which
signs the person out at once) and enabling; every change lands in the audit log, never a password."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.audit.models import AuditEntry
from app.auth.models import User, UserRegion, UserSession
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

ADMIN = "admin@mincetur.gob.pe"
NEW_PASSWORD = "Qorikancha-Inti-2026"


def _english(client: TestClient) -> None:
    assert (
        post_form(client, "/language", {"lang": "en", "next": "/"}, form_page="/").status_code
        == 303
    )


@pytest.fixture
def admin(client, db):
    user = make_user(db, ADMIN, role="admin")
    sign_in(client, ADMIN)
    _english(client)
    return user


def _staff_form(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "email": "Ana.Huaman@Dircetur-Cusco.gob.pe ",
        "password": NEW_PASSWORD,
        "role": "reviewer",
        "regions": ["PE-CUS", "PE-MDD"],
    }
    data.update(overrides)
    return data


def _account(db, email: str) -> User | None:
    db.expire_all()
    return db.scalars(select(User).where(User.email == email)).first()


def _regions(db, user: User) -> list[str]:
    return list(
        db.scalars(
            select(UserRegion.region)
            .where(UserRegion.user_id == user.id)
            .order_by(UserRegion.region)
        )
    )


def _audit(db, action: str) -> list[AuditEntry]:
    db.expire_all()
    return list(db.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def _row(client: TestClient, email: str) -> str:
    for row in page(client.get("/admin/users")).select("tbody tr"):
        if row.th and row.th.get_text(" ", strip=True).startswith(email):
            return row.get_text(" ", strip=True)
    raise AssertionError(f"{email} is not listed")


def _new_client(app) -> TestClient:
    return TestClient(app, follow_redirects=False)


# --- adding a staff member ------


def test_admin_adds_a_reviewer_with_regions_who_can_then_sign_in(app, client, db, admin):
    form = client.get("/admin/users/new")
    assert form.status_code == 200
    role_options = [o["value"] for o in page(form).select("select[name=role] option")]
    assert role_options == ["reviewer", "national_reviewer", "admin"]
    assert len(page(form).select("input[name=regions]")) == 26

    response = post_form(client, "/admin/users/new", _staff_form())
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/users"
    listing = client.get("/admin/users")
    assert "ana.huaman@dircetur-cusco.gob.pe" in flash_text(listing)

    reviewer = _account(db, "ana.huaman@dircetur-cusco.gob.pe")
    assert reviewer is not None
    assert reviewer.role == "reviewer"
    assert reviewer.is_active and reviewer.email_confirmed_at is not None
    assert _regions(db, reviewer) == ["PE-CUS", "PE-MDD"]
    row = _row(client, "ana.huaman@dircetur-cusco.gob.pe")
    assert "Regional reviewer" in row and "Cusco" in row and "Madre de Dios" in row
    assert "Active" in row

    with _new_client(app) as browser:
        sign_in(browser, "ana.huaman@dircetur-cusco.gob.pe", NEW_PASSWORD)
        assert browser.get("/dashboard").status_code == 200
        assert browser.get("/admin/users").status_code == 403


def test_mistakes_are_shown_beside_each_field_and_what_was_typed_is_kept(client, db, admin):
    response = post_form(
        client,
        "/admin/users/new",
        _staff_form(email="ana@", password="Kusi-2026", regions=["PE-CUS", "PE-PUN"]),
    )
    assert response.status_code == 400
    assert page(response).title.get_text().startswith("Error:")
    summary = error_summary(response)
    assert len(summary) == 2
    assert "right format" in field_error(response, "email")
    assert "10 characters" in field_error(response, "password")
    assert field_value(response, "email") == "ana@"
    assert field_value(response, "password") == ""  # a password is never sent back
    assert "Kusi-2026" not in response.text
    assert field_value(response, "role") == "reviewer"
    ticked = {i["value"] for i in page(response).select("input[name=regions][checked]")}
    assert ticked == {"PE-CUS", "PE-PUN"}
    assert page(response).find("a", href="#field-email")
    assert _account(db, "ana@") is None


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"regions": []}, "regions", "A regional reviewer needs at least one region"),
        ({"regions": ["PE-XXX"]}, "regions", "Choose the regions from the list"),
        ({"role": "operator"}, "role", "Choose the role of the staff member"),
        ({"role": ""}, "role", "Choose the role of the staff member"),
        ({"email": ""}, "email", "Enter the e-mail address of the staff member"),
        ({"password": "ana.huaman2026"}, "password", "too easy to guess"),
    ],
)
def test_refused_accounts_say_why_and_create_nothing(client, db, admin, overrides, field, message):
    response = post_form(client, "/admin/users/new", _staff_form(**overrides))
    assert response.status_code == 400
    assert message in field_error(response, field)
    assert db.scalar(select(func.count()).select_from(User)) == 1
    assert _audit(db, "user.create") == []


def test_a_reviewer_without_a_region_is_refused_but_national_staff_need_none(client, db, admin):
    response = post_form(client, "/admin/users/new", _staff_form(regions=[]))
    assert response.status_code == 400
    assert "at least one region" in " ".join(error_summary(response))
    assert _account(db, "ana.huaman@dircetur-cusco.gob.pe") is None

    # Boxes left ticked for a national reviewer mean nothing and are not kept.
    response = post_form(client, "/admin/users/new", _staff_form(role="national_reviewer"))
    assert response.status_code == 303
    national = _account(db, "ana.huaman@dircetur-cusco.gob.pe")
    assert national is not None and national.role == "national_reviewer"
    assert _regions(db, national) == []


def test_an_address_already_used_is_refused(client, db, admin):
    make_user(db, "rosa@hostal.pe")
    response = post_form(client, "/admin/users/new", _staff_form(email="ROSA@hostal.pe"))
    assert response.status_code == 400
    assert "already exists" in field_error(response, "email")


# --- the list ------


def test_the_list_filters_by_role_and_pages(client, db, admin):
    make_user(db, "ana@dircetur-cusco.gob.pe", role="reviewer", regions=("PE-CUS",))
    for n in range(55):
        db.add(User(email=f"operador{n:02d}@hostal.pe", password_hash="x", role="operator"))
    db.commit()

    listing = page(client.get("/admin/users"))
    assert "57 accounts" in listing.get_text(" ", strip=True)
    assert len(listing.select("tbody tr")) == 50
    assert listing.find("a", rel="next")
    second = page(client.get("/admin/users?page=2"))
    assert len(second.select("tbody tr")) == 7

    reviewers = client.get("/admin/users?role=reviewer")
    rows = page(reviewers).select("tbody tr")
    assert [r.th.get_text(" ", strip=True) for r in rows] == ["ana@dircetur-cusco.gob.pe"]
    assert field_value(reviewers, "role") == "reviewer"
    # An unknown role shows every account rather than an error.
    assert "57 accounts" in page(client.get("/admin/users?role=chief")).get_text(" ", strip=True)
    # Operators are listed unconfirmed, with no role to change, but can be disabled.
    operator_row = page(client.get("/admin/users?role=operator")).select("tbody tr")[0]
    assert "No" in operator_row.get_text(" ", strip=True)
    assert not operator_row.find("a", string=lambda s: s and "Change" in s)
    assert operator_row.find("form", action=lambda a: a and a.endswith("/disable"))


def test_only_administrators_manage_accounts(app, client, db):
    admin = make_user(db, ADMIN, role="admin")
    make_user(db, "rosa@hostal.pe")
    make_user(db, "ana@dircetur-cusco.gob.pe", role="reviewer", regions=("PE-CUS",))
    make_user(db, "luis@mincetur.gob.pe", role="national_reviewer")
    target = f"/admin/users/{admin.id}"
    for email in ("rosa@hostal.pe", "ana@dircetur-cusco.gob.pe", "luis@mincetur.gob.pe"):
        with _new_client(app) as browser:
            sign_in(browser, email)
            home = page(browser.get("/dashboard"))
            assert not home.find("a", href="/admin/users")
            for path in ("/admin/users", "/admin/users/new", f"{target}/edit"):
                assert browser.get(path).status_code == 403, (email, path)
            for path in ("/admin/users/new", f"{target}/edit", f"{target}/disable"):
                response = post_form(
                    browser,
                    path,
                    _staff_form(email=f"x{len(path)}@mincetur.gob.pe"),
                    form_page="/dashboard",
                )
                assert response.status_code == 403, (email, path)
    assert db.scalar(select(func.count()).select_from(User)) == 4
    assert _account(db, ADMIN).is_active  # type: ignore[union-attr]
    assert _audit(db, "user.create") == [] and _audit(db, "user.disable") == []

    with _new_client(app) as anonymous:
        response = anonymous.get("/admin/users")
        assert response.status_code == 303
        assert response.headers["location"].startswith("/account/login?next=")

    sign_in(client, ADMIN)
    assert page(client.get("/dashboard")).find("a", href="/admin/users")


# --- changing a staff member ------


def test_admin_changes_role_and_regions(client, db, admin):
    ana = make_user(db, "ana@dircetur-cusco.gob.pe", role="reviewer", regions=("PE-CUS",))
    edit = client.get(f"/admin/users/{ana.id}/edit")
    assert field_value(edit, "role") == "reviewer"
    assert [i["value"] for i in page(edit).select("input[name=regions][checked]")] == ["PE-CUS"]

    response = post_form(
        client, f"/admin/users/{ana.id}/edit", {"role": "reviewer", "regions": ["PE-PUN", "PE-CUS"]}
    )
    assert response.status_code == 303
    assert _regions(db, _account(db, "ana@dircetur-cusco.gob.pe")) == ["PE-CUS", "PE-PUN"]  # type: ignore[arg-type]

    response = post_form(client, f"/admin/users/{ana.id}/edit", {"role": "reviewer", "regions": []})
    assert response.status_code == 400
    assert "at least one region" in field_error(response, "regions")

    response = post_form(
        client, f"/admin/users/{ana.id}/edit", {"role": "national_reviewer", "regions": ["PE-CUS"]}
    )
    assert response.status_code == 303
    national = _account(db, "ana@dircetur-cusco.gob.pe")
    assert national.role == "national_reviewer"  # type: ignore[union-attr]
    assert _regions(db, national) == []  # type: ignore[arg-type]

    updates = _audit(db, "user.update")
    assert [(e.before, e.after) for e in updates] == [
        (
            {"role": "reviewer", "regions": ["PE-CUS"], "is_active": True},
            {"role": "reviewer", "regions": ["PE-CUS", "PE-PUN"], "is_active": True},
        ),
        (
            {"role": "reviewer", "regions": ["PE-CUS", "PE-PUN"], "is_active": True},
            {"role": "national_reviewer", "regions": [], "is_active": True},
        ),
    ]


def test_operator_accounts_have_no_role_page_and_unknown_accounts_are_not_found(client, db, admin):
    rosa = make_user(db, "rosa@hostal.pe")
    assert client.get(f"/admin/users/{rosa.id}/edit").status_code == 404
    response = post_form(
        client, f"/admin/users/{rosa.id}/edit", {"role": "admin"}, form_page="/admin/users"
    )
    assert response.status_code == 404
    assert _account(db, "rosa@hostal.pe").role == "operator"  # type: ignore[union-attr]
    for path in ("/admin/users/424242/edit", "/admin/users/abc/edit", "/admin/users/0/edit"):
        assert client.get(path).status_code == 404
    assert post_form(client, "/admin/users/424242/disable", {}, "/admin/users").status_code == 404


def test_an_admin_cannot_change_their_own_role(client, db, admin):
    response = post_form(
        client, f"/admin/users/{admin.id}/edit", {"role": "national_reviewer", "regions": []}
    )
    assert response.status_code == 400
    assert "your own role" in field_error(response, "role")
    assert _account(db, ADMIN).role == "admin"  # type: ignore[union-attr]


# --- disabling and enabling ------


def test_disabling_signs_the_person_out_at_once_and_blocks_sign_in(app, client, db, admin):
    ana = make_user(db, "ana@dircetur-cusco.gob.pe", role="reviewer", regions=("PE-CUS",))
    with _new_client(app) as browser:
        sign_in(browser, "ana@dircetur-cusco.gob.pe")
        _english(browser)
        assert browser.get("/dashboard").status_code == 200

        response = post_form(client, f"/admin/users/{ana.id}/disable", {}, "/admin/users")
        assert response.status_code == 303
        listing = client.get("/admin/users")
        assert "signed out" in flash_text(listing)
        assert "Disabled" in _row(client, "ana@dircetur-cusco.gob.pe")

        # Her very next request finds no session.
        response = browser.get("/dashboard")
        assert response.status_code == 303
        assert response.headers["location"].startswith("/account/login")
        assert (
            db.scalar(
                select(func.count()).select_from(UserSession).where(UserSession.user_id == ana.id)
            )
            == 0
        )
        response = post_form(
            browser,
            "/account/login",
            {"email": "ana@dircetur-cusco.gob.pe", "password": PASSWORD},
        )
        assert response.status_code == 400
        assert "disabled" in " ".join(error_summary(response))

        # Enabled again, she can sign in.
        response = post_form(client, f"/admin/users/{ana.id}/enable", {}, "/admin/users")
        assert response.status_code == 303
        assert "Active" in _row(client, "ana@dircetur-cusco.gob.pe")
        sign_in(browser, "ana@dircetur-cusco.gob.pe")
        assert browser.get("/dashboard").status_code == 200

    disable, enable = _audit(db, "user.disable"), _audit(db, "user.enable")
    assert len(disable) == 1 and len(enable) == 1
    assert disable[0].before == {"role": "reviewer", "regions": ["PE-CUS"], "is_active": True}
    assert disable[0].after == {"role": "reviewer", "regions": ["PE-CUS"], "is_active": False}
    assert enable[0].before["is_active"] is False and enable[0].after["is_active"] is True  # type: ignore[index]
    assert disable[0].actor_email == ADMIN and disable[0].object_id == str(ana.id)


def test_an_operator_account_can_be_disabled(app, client, db, admin):
    rosa = make_user(db, "rosa@hostal.pe")
    response = post_form(client, f"/admin/users/{rosa.id}/disable", {}, "/admin/users")
    assert response.status_code == 303
    assert not _account(db, "rosa@hostal.pe").is_active  # type: ignore[union-attr]


def test_an_admin_cannot_disable_themselves(client, db, admin):
    own_row = next(
        r for r in page(client.get("/admin/users")).select("tbody tr") if ADMIN in r.th.get_text()
    )
    assert not own_row.find("form")
    assert not page(client.get(f"/admin/users/{admin.id}/edit")).find(
        "form", action=f"/admin/users/{admin.id}/disable"
    )

    response = post_form(client, f"/admin/users/{admin.id}/disable", {}, "/admin/users")
    assert response.status_code == 303
    assert "cannot disable your own account" in flash_text(client.get("/admin/users"))
    assert _account(db, ADMIN).is_active  # type: ignore[union-attr]
    assert client.get("/admin/users").status_code == 200  # still signed in
    assert _audit(db, "user.disable") == []


def test_a_post_without_the_form_token_changes_nothing(client, db, admin):
    ana = make_user(db, "ana@dircetur-cusco.gob.pe", role="reviewer", regions=("PE-CUS",))
    response = client.post(f"/admin/users/{ana.id}/disable", data={})
    assert response.status_code == 303
    assert "expired" in flash_text(client.get("/admin/users"))
    assert _account(db, "ana@dircetur-cusco.gob.pe").is_active  # type: ignore[union-attr]
    response = client.post("/admin/users/new", data=_staff_form())
    assert response.status_code == 400
    assert _account(db, "ana.huaman@dircetur-cusco.gob.pe") is None


# --- the audit log ------


def test_every_change_is_audited_without_the_password(client, db, admin):
    post_form(client, "/admin/users/new", _staff_form())
    ana = _account(db, "ana.huaman@dircetur-cusco.gob.pe")
    assert ana is not None
    post_form(client, f"/admin/users/{ana.id}/edit", {"role": "reviewer", "regions": ["PE-CUS"]})
    post_form(client, f"/admin/users/{ana.id}/disable", {}, "/admin/users")
    post_form(client, f"/admin/users/{ana.id}/enable", {}, "/admin/users")

    db.expire_all()
    entries = list(db.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    assert [e.action for e in entries] == [
        "user.create",
        "user.update",
        "user.disable",
        "user.enable",
    ]
    created = entries[0]
    assert created.object_type == "user" and created.object_id == str(ana.id)
    assert created.region is None
    assert created.actor_email == ADMIN
    assert created.before is None
    assert created.after == {
        "email": "ana.huaman@dircetur-cusco.gob.pe",
        "role": "reviewer",
        "regions": ["PE-CUS", "PE-MDD"],
        "is_active": True,
    }
    for entry in entries:
        written = json.dumps([entry.before, entry.after, entry.summary])
        assert "password" not in written
        assert NEW_PASSWORD not in written
        assert ana.password_hash not in written and "$argon2" not in written
        assert entry.region is None


def test_reporting_period_changes_are_audited(client, db, admin):
    """The periods admin (app/reports/admin_views.py) writes the same kind of entries."""
    form = {"year": "2025", "opens_on": "", "deadline": "", "grace_days": "30", "cutoff_on": ""}
    form["form_version"] = field_value(client.get("/admin/periods/new"), "form_version") or ""
    assert post_form(client, "/admin/periods/new", form).status_code == 303
    del form["year"]
    assert (
        post_form(client, "/admin/periods/2025/edit", {**form, "grace_days": "15"}).status_code
        == 303
    )
    assert post_form(client, "/admin/periods/2025/close", {}, "/admin/periods").status_code == 303
    assert post_form(client, "/admin/periods/2025/reopen", {}, "/admin/periods").status_code == 303

    db.expire_all()
    entries = list(db.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    assert [e.action for e in entries] == [
        "period.create",
        "period.update",
        "period.close",
        "period.reopen",
    ]
    assert all(e.object_type == "period" and e.object_id == "2025" for e in entries)
    assert entries[0].before is None and entries[0].after["deadline"] == "2026-03-31"  # type: ignore[index]
    assert entries[1].before["grace_days"] == 30 and entries[1].after["grace_days"] == 15  # type: ignore[index]
    assert entries[2].before["closed"] is False and entries[2].after["closed"] is True  # type: ignore[index]
    assert entries[3].after["closed"] is False  # type: ignore[index]


def test_disabling_stops_the_accounts_api_tokens_at_once(app, client, db, admin):
    from app.api.tokens import create_token

    ana = make_user(db, "ana@dircetur-cusco.gob.pe", role="reviewer", regions=("PE-CUS",))
    _record, token = create_token(db_session=db, user=ana, name="sistema regional")
    db.commit()
    headers = {"authorization": f"Bearer {token}"}
    with _new_client(app) as api:
        assert api.get("/api/v1/reviews", headers=headers).status_code == 200
        post_form(client, f"/admin/users/{ana.id}/disable", {}, "/admin/users")
        refused = api.get("/api/v1/reviews", headers=headers)
        assert refused.status_code == 401
        assert refused.headers["content-type"].startswith("application/problem+json")
        post_form(client, f"/admin/users/{ana.id}/enable", {}, "/admin/users")
        assert api.get("/api/v1/reviews", headers=headers).status_code == 200
