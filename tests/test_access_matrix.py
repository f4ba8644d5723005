"""Who gets what, on every route of the route table, for every kind of person.

The world: operator A's lodging in Cusco (region X), signed, its report filed with evidence and
approved (so a receipt and a certificate exist); operator B runs another establishment; reviewers of
Cusco (X) and of Puno (Y), a national reviewer and an administrator. Every route is called by each
of them with the ids of A's records: a route missing from MATRIX fails the test, and so does any
answer other than the one written there. "ok" means the request was let through: any answer but a
refusal (401, 403, 404, a redirect to sign in) or an error (500); an empty form answered 400 with
its messages is let through. POSTs carry the session's own valid CSRF token, so what is checked is
who may, not whether the form is complete.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import Session

from app.main import create_app, dispose_engines, route_table
from tests.api.conftest import COMPLETE_JSON, PDF, SIGNATURE_JSON, auth, establishment_json
from tests.api.test_refusals import _send as send_api
from tests.conftest import (
    Mailbox,
    _empty_tables,
    create_open_period,
    csrf_of,
    make_settings,
    make_user,
    page,
    sign_in,
)

DATA = Path(__file__).resolve().parent / "data"
ROLES = ("anonymous", "operator_a", "operator_b", "reviewer_x", "reviewer_y", "national", "admin")
EMAILS = {
    "operator_a": "rosa@hostal.pe",
    "operator_b": "carlos@otro.pe",
    "reviewer_x": "cusco@dircetur.pe",
    "reviewer_y": "puno@dircetur.pe",
    "national": "lima@mincetur.gob.pe",
    "admin": "admin@mincetur.gob.pe",
}
ACCOUNT_ROLES = {
    "operator_a": ("operator", ()),
    "operator_b": ("operator", ()),
    "reviewer_x": ("reviewer", ("PE-CUS",)),
    "reviewer_y": ("reviewer", ("PE-PUN",)),
    "national": ("national_reviewer", ()),
    "admin": ("admin", ()),
}


def _row(*answers: str) -> dict[str, str]:
    return dict(zip(ROLES, answers, strict=True))


# fmt: off
#            anonymous, operator A, operator B, reviewer X, reviewer Y, national, admin
MATRIX: dict[tuple[str, str], dict[str, str]] = {
    ("GET", "/"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/account/confirm/resend"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/account/confirm/{token}"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/account/login"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/account/password/forgot"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/account/password/reset/{token}"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/account/password/sent"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/account/password"): _row("login", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/account/register"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/account/register/sent"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/account/tokens"): _row("login", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/admin/imports"): _row("login", "403", "403", "403", "403", "403", "ok"),
    ("GET", "/admin/imports/{upload_key}"): _row("login", "403", "403", "403", "403", "403", "ok"),
    ("GET", "/admin/imports/{upload_key}/errors.xlsx"): _row("login", "403", "403", "403", "403", "403", "ok"),
    ("GET", "/admin/periods"): _row("login", "403", "403", "403", "403", "403", "ok"),
    ("GET", "/admin/periods/new"): _row("login", "403", "403", "403", "403", "403", "ok"),
    ("GET", "/admin/periods/{year}/edit"): _row("login", "403", "403", "403", "403", "403", "ok"),
    ("GET", "/admin/users"): _row("login", "403", "403", "403", "403", "403", "ok"),
    ("GET", "/admin/users/new"): _row("login", "403", "403", "403", "403", "403", "ok"),
    ("GET", "/admin/users/{user_id}/edit"): _row("login", "403", "403", "403", "403", "403", "ok"),
    ("GET", "/api/docs"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/api/v1/establishments"): _row("401", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/api/v1/establishments/{establishment_id}"): _row("401", "ok", "404", "ok", "404", "ok", "ok"),
    ("GET", "/api/v1/establishments/{establishment_id}/certificates/{year}"): _row("401", "ok", "404", "ok", "404", "ok", "ok"),
    ("GET", "/api/v1/establishments/{establishment_id}/reports/{year}"): _row("401", "ok", "404", "ok", "404", "ok", "ok"),
    ("GET", "/api/v1/noncompliance"): _row("401", "403", "403", "ok", "ok", "ok", "403"),
    ("GET", "/api/v1/periods"): _row("401", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/api/v1/register"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/api/v1/register/{establishment_id}"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/api/v1/reviews"): _row("401", "403", "403", "ok", "ok", "ok", "403"),
    ("GET", "/api/v1/verify/{code}"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/audit"): _row("login", "403", "403", "ok", "ok", "ok", "ok"),
    ("GET", "/audit.csv"): _row("login", "403", "403", "ok", "ok", "ok", "ok"),
    ("GET", "/code"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/dashboard"): _row("login", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/establishments/claim"): _row("login", "ok", "ok", "403", "403", "403", "403"),
    ("GET", "/establishments/claim/confirm/{token}"): _row("login", "ok", "ok", "403", "403", "403", "403"),
    ("GET", "/establishments/new"): _row("login", "ok", "ok", "403", "403", "403", "403"),
    ("GET", "/establishments/{establishment_id}"): _row("login", "ok", "404", "ok", "404", "ok", "ok"),
    ("GET", "/establishments/{establishment_id}/acknowledgement.pdf"): _row("login", "ok", "404", "ok", "404", "ok", "ok"),
    ("GET", "/establishments/{establishment_id}/certificates/{year}.pdf"): _row("login", "ok", "404", "ok", "404", "ok", "ok"),
    ("GET", "/establishments/{establishment_id}/reports/{year}"): _row("login", "ok", "404", "ok", "404", "ok", "ok"),
    ("GET", "/establishments/{establishment_id}/reports/{year}/evidence/{evidence_id}"): _row("login", "ok", "404", "ok", "404", "ok", "ok"),
    ("GET", "/establishments/{establishment_id}/reports/{year}/sections/{code}"): _row("login", "ok", "404", "ok", "404", "ok", "ok"),
    ("GET", "/establishments/{establishment_id}/reports/{year}/submissions/{number}/receipt.pdf"): _row("login", "ok", "404", "ok", "404", "ok", "ok"),
    ("GET", "/establishments/{establishment_id}/reports/{year}/summary"): _row("login", "ok", "404", "ok", "404", "ok", "ok"),
    ("GET", "/establishments/{establishment_id}/sign"): _row("login", "ok", "404", "403", "403", "403", "403"),
    ("GET", "/healthz"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/livez"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/open-data"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/open-data/register.csv"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/open-data/register.json"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/open-data/schema.json"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/openapi.json"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/privacy"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/register"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/register/{entry_id}"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/register/{entry_id}/badge.pdf"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/reports"): _row("login", "ok", "ok", "403", "403", "403", "403"),
    ("GET", "/review"): _row("login", "403", "403", "ok", "ok", "ok", "403"),
    ("GET", "/review/claims"): _row("login", "403", "403", "ok", "ok", "ok", "403"),
    ("GET", "/review/noncompliance"): _row("login", "403", "403", "ok", "ok", "ok", "403"),
    ("GET", "/review/noncompliance.csv"): _row("login", "403", "403", "ok", "ok", "ok", "403"),
    ("GET", "/review/noncompliance.pdf"): _row("login", "403", "403", "ok", "ok", "ok", "403"),
    ("GET", "/review/reports/{report_id}"): _row("login", "403", "403", "ok", "404", "ok", "403"),
    ("GET", "/staff/dashboard"): _row("login", "403", "403", "ok", "ok", "ok", "ok"),
    ("GET", "/staff/dashboard.csv"): _row("login", "403", "403", "ok", "ok", "ok", "ok"),
    ("GET", "/staff/dashboard.xlsx"): _row("login", "403", "403", "ok", "ok", "ok", "ok"),
    ("GET", "/statistics"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/statistics.csv"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/statistics.json"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/verify"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/verify/{code}"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("POST", "/account/confirm/resend"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("POST", "/account/confirm/{token}"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("POST", "/account/login"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("POST", "/account/password/forgot"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("POST", "/account/password/reset/{token}"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("POST", "/account/password"): _row("login", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("POST", "/account/register"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("POST", "/account/tokens"): _row("login", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("POST", "/account/tokens/{token_id}/revoke"): _row("login", "ok", "404", "404", "404", "404", "404"),
    ("POST", "/admin/imports"): _row("login", "403", "403", "403", "403", "403", "ok"),
    ("POST", "/admin/imports/{upload_key}/confirm"): _row("login", "403", "403", "403", "403", "403", "ok"),
    ("POST", "/admin/periods/new"): _row("login", "403", "403", "403", "403", "403", "ok"),
    ("POST", "/admin/periods/{year}/close"): _row("login", "403", "403", "403", "403", "403", "ok"),
    ("POST", "/admin/periods/{year}/edit"): _row("login", "403", "403", "403", "403", "403", "ok"),
    ("POST", "/admin/periods/{year}/reopen"): _row("login", "403", "403", "403", "403", "403", "ok"),
    ("POST", "/admin/users/new"): _row("login", "403", "403", "403", "403", "403", "ok"),
    ("POST", "/admin/users/{user_id}/disable"): _row("login", "403", "403", "403", "403", "403", "ok"),
    ("POST", "/admin/users/{user_id}/edit"): _row("login", "403", "403", "403", "403", "403", "ok"),
    ("POST", "/admin/users/{user_id}/enable"): _row("login", "403", "403", "403", "403", "403", "ok"),
    ("POST", "/api/v1/establishments"): _row("401", "ok", "ok", "403", "403", "403", "403"),
    ("PUT", "/api/v1/establishments/{establishment_id}/reports/{year}"): _row("401", "ok", "404", "403", "403", "403", "403"),
    ("POST", "/api/v1/establishments/{establishment_id}/reports/{year}/evidence"): _row("401", "ok", "404", "403", "403", "403", "403"),
    ("POST", "/api/v1/establishments/{establishment_id}/reports/{year}/submit"): _row("401", "ok", "404", "403", "403", "403", "403"),
    ("POST", "/api/v1/establishments/{establishment_id}/signature"): _row("401", "ok", "404", "403", "403", "403", "403"),
    ("POST", "/api/v1/reports/{report_id}/decision"): _row("401", "403", "403", "ok", "404", "ok", "403"),
    ("POST", "/establishments/claim"): _row("login", "ok", "ok", "403", "403", "403", "403"),
    ("POST", "/establishments/claim/confirm/{token}"): _row("login", "ok", "ok", "403", "403", "403", "403"),
    ("POST", "/establishments/claim/email"): _row("login", "ok", "ok", "403", "403", "403", "403"),
    ("POST", "/establishments/claim/review"): _row("login", "ok", "ok", "403", "403", "403", "403"),
    ("POST", "/establishments/new"): _row("login", "ok", "ok", "403", "403", "403", "403"),
    ("POST", "/establishments/{establishment_id}/certificates/{year}/reissue"): _row("login", "404", "404", "ok", "404", "ok", "404"),
    ("POST", "/establishments/{establishment_id}/reports/{year}/evidence/{evidence_id}/remove"): _row("login", "ok", "404", "403", "403", "403", "403"),
    ("POST", "/establishments/{establishment_id}/reports/{year}/sections/{code}"): _row("login", "ok", "404", "403", "403", "403", "403"),
    ("POST", "/establishments/{establishment_id}/reports/{year}/sections/{code}/evidence"): _row("login", "ok", "404", "403", "403", "403", "403"),
    ("POST", "/establishments/{establishment_id}/reports/{year}/start"): _row("login", "ok", "404", "403", "403", "403", "403"),
    ("POST", "/establishments/{establishment_id}/reports/{year}/submit"): _row("login", "ok", "404", "403", "403", "403", "403"),
    ("POST", "/establishments/{establishment_id}/sign"): _row("login", "ok", "404", "403", "403", "403", "403"),
    ("POST", "/establishments/{establishment_id}/signature/reinstate"): _row("login", "403", "404", "ok", "404", "ok", "403"),
    ("POST", "/establishments/{establishment_id}/signature/revoke"): _row("login", "403", "404", "ok", "404", "ok", "403"),
    ("POST", "/establishments/{establishment_id}/signature/suspend"): _row("login", "403", "404", "ok", "404", "ok", "403"),
    ("POST", "/establishments/{establishment_id}/signature/withdraw"): _row("login", "ok", "404", "404", "404", "404", "404"),
    ("POST", "/language"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("POST", "/review/claims/{claim_id}/approve"): _row("login", "403", "403", "ok", "404", "ok", "403"),
    ("POST", "/review/claims/{claim_id}/refuse"): _row("login", "403", "403", "ok", "404", "ok", "403"),
    ("POST", "/review/reports/{report_id}"): _row("login", "403", "403", "ok", "404", "ok", "403"),
    ("POST", "/review/reports/{report_id}/assign"): _row("login", "403", "403", "ok", "404", "ok", "403"),
    ("POST", "/review/reports/{report_id}/release"): _row("login", "403", "403", "ok", "404", "ok", "403"),
    ("POST", "/account/logout"): _row("ok", "ok", "ok", "ok", "ok", "ok", "ok"),
}
# fmt: on


@pytest.fixture(scope="module")
def world(
    database_url: str, smtp_server: tuple[Mailbox, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    tmp: Path = tmp_path_factory.mktemp("matrix")
    app = create_app(make_settings(database_url, smtp_server[1], "http://testserver", tmp))
    _empty_tables(app)
    clients: dict[str, TestClient] = {}
    tokens: dict[str, str] = {}
    from app.api.tokens import create_token

    with Session(app.state.engine, expire_on_commit=False) as db:
        period = create_open_period(db)
        users = {}
        for role, (code, regions) in ACCOUNT_ROLES.items():
            users[role] = make_user(db, EMAILS[role], role=code, regions=regions)
            tokens[role] = create_token(db_session=db, user=users[role], name="matrix")[1]
        spare_token = create_token(db_session=db, user=users["operator_a"], name="spare")[0]
        target = make_user(db, "otra@dircetur.pe", role="reviewer", regions=("PE-CUS",))
        db.commit()
        ids = {"year": period.year, "token_id": spare_token.id, "user_id": target.id}

    with TestClient(app, follow_redirects=False) as api:
        a = auth(tokens["operator_a"])
        created = api.post("/api/v1/establishments", json=establishment_json(), headers=a)
        assert created.status_code == 201, created.text
        eid = created.json()["id"]
        api.post(f"/api/v1/establishments/{eid}/signature", json=SIGNATURE_JSON, headers=a)
        url = f"/api/v1/establishments/{eid}/reports/{period.year}"
        saved = api.put(url, json={"version": 0, "sections": COMPLETE_JSON}, headers=a)
        assert saved.status_code == 200, saved.text
        evidence = api.post(
            f"{url}/evidence",
            data={"section": "policy"},
            files={"file": ("politica.pdf", PDF, "application/pdf")},
            headers=a,
        )
        assert evidence.status_code == 201, evidence.text
        filed = api.post(f"{url}/submit", json={"version": saved.json()["version"] + 1}, headers=a)
        if filed.status_code != 200:
            filed = api.post(f"{url}/submit", headers=a)
        assert filed.status_code == 200, filed.text
        queue = api.get("/api/v1/reviews", headers=auth(tokens["reviewer_x"])).json()
        report_id = queue["items"][0]["report_id"]
        approved = api.post(
            f"/api/v1/reports/{report_id}/decision",
            json={"decision": "approve"},
            headers=auth(tokens["reviewer_x"]),
        )
        assert approved.status_code == 200, approved.text
        code = approved.json()["certificate"]["verification_code"]
        b_created = api.post(
            "/api/v1/establishments",
            json=establishment_json(branch_code="0001", trade_name="Otro", region="PE-PUN"),
            headers=auth(tokens["operator_b"]),
        )
        assert b_created.status_code == 201, b_created.text

    from app.claims import service as claims
    from app.establishments.models import Establishment
    from app.reports.models import Evidence

    with Session(app.state.engine, expire_on_commit=False) as db:
        from app.auth.models import User

        claimer = db.scalars(select(User).where(User.email == EMAILS["operator_b"])).one()
        # A pending claim in Cusco for each reviewer who may decide it, on each route: the first
        # decision would otherwise leave nothing pending for the next one.
        claim_ids = {}
        for number, key in enumerate(
            (a + "/" + r for a in ("approve", "refuse") for r in ("reviewer_x", "national")), 2
        ):
            imported = Establishment(
                **establishment_json(branch_code=f"{number:04d}", trade_name=f"Importado {number}")
            )
            db.add(imported)
            db.flush()
            claim_ids[key] = claims.request_review(
                db_session=db, user=claimer, establishment=imported, explanation="Soy el dueño."
            ).id
        db.commit()
        ids |= {
            "establishment_id": eid,
            "entry_id": eid,
            "report_id": report_id,
            "evidence_id": db.scalars(select(Evidence.id)).one(),
            "claim_ids": claim_ids,
            "verify_code": code,
            "number": 1,
        }

    for role in ROLES:
        client = TestClient(app, follow_redirects=False)
        client.__enter__()
        if role != "anonymous":
            sign_in(client, EMAILS[role])
        clients[role] = client
    upload = clients["admin"].post(
        "/admin/imports",
        data={"csrf_token": csrf_of(clients["admin"], "/admin/imports")},
        files={
            "file": (
                "firmantes.csv",
                (DATA / "signatories_with_errors.csv").read_bytes(),
                "text/csv",
            )
        },
    )
    assert upload.status_code == 303, upload.text
    ids["upload_key"] = upload.headers["location"].rsplit("/", 1)[1]
    yield {"app": app, "clients": clients, "tokens": tokens, "ids": ids}
    for client in clients.values():
        client.__exit__(None, None, None)
    dispose_engines(app)


def _url(path: str, ids: dict[str, Any], role: str) -> str:
    code = ids["verify_code"] if "verify" in path else "policy"
    url = path.replace("{code}", str(code)).replace("{token}", "not-a-real-token-0000000000000")
    if "{claim_id}" in path:
        action = path.rsplit("/", 1)[1]
        claim = ids["claim_ids"].get(f"{action}/{role}", ids["claim_ids"][f"{action}/reviewer_x"])
        url = url.replace("{claim_id}", str(claim))
    for name, value in ids.items():
        url = url.replace("{" + name + "}", str(value))
    return url


def _outcome(response) -> str:  # type: ignore[no-untyped-def]
    status = response.status_code
    if status == 303 and response.headers["location"].startswith("/account/login"):
        return "login"
    if status in (401, 403, 404, 500):
        return str(status)
    return "ok"


def _routes() -> list[tuple[str, str]]:
    routes = sorted(
        (method, route.path) for route in route_table() for method in route.methods - {"HEAD"}
    )
    # Safe requests first, then the posts; signing out last (it ends the sessions used here).
    return sorted(routes, key=lambda r: (r[0] != "GET", r[1] == "/account/logout", r[1]))


# Roles whose answer is a refusal go first on a post, so a change made by an allowed role earlier
# in the run cannot hide a refusal.
POST_ORDER = (
    "anonymous",
    "operator_b",
    "reviewer_y",
    "operator_a",
    "reviewer_x",
    "national",
    "admin",
)


def _call(world: dict[str, Any], role: str, method: str, path: str, csrf: dict[str, str]):  # type: ignore[no-untyped-def]
    client = world["clients"][role]
    url = _url(path, world["ids"], role)
    if path.startswith("/api/"):
        # A well-formed body (tests/api/test_refusals.py), so that what answers is the access rule.
        headers = auth(world["tokens"][role]) if role != "anonymous" else {}
        return send_api(client, method, url, headers)
    if method == "GET":
        return client.get(url)
    if role not in csrf:
        token = page(client.get("/")).find("input", {"name": "csrf_token"})
        csrf[role] = str(token["value"])
    return client.request(method, url, data={"csrf_token": csrf[role]})


def test_access_matrix(world):
    routes = _routes()
    missing = [route for route in routes if route not in MATRIX]
    unknown = [route for route in MATRIX if route not in routes]
    csrf: dict[str, str] = {}
    seen: dict[tuple[str, str], dict[str, str]] = {}
    wrong = []
    for method, path in routes:
        expected = MATRIX.get((method, path))
        seen[(method, path)] = {}
        for role in POST_ORDER if method != "GET" else ROLES:
            response = _call(world, role, method, path, csrf)
            got = _outcome(response)
            seen[(method, path)][role] = got
            if expected is not None and got != expected[role]:
                wrong.append(f"{method} {path}: {role} expected {expected[role]}, got {got}")
    if os.environ.get("MATRIX_PRINT"):
        for (method, path), answers in seen.items():
            cells = ", ".join(repr(answers[r]) for r in ROLES)
            print(f'    ("{method}", "{path}"): _row({cells}),')
    assert not missing, f"routes without an entry in MATRIX: {missing}"
    assert not unknown, f"entries in MATRIX for routes that no longer exist: {unknown}"
    assert not wrong, "\n".join(wrong)
