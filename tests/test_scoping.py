"""Nobody reaches another operator's establishment, report or evidence through any route that takes an id."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlmodel import SQLModel

from app.main import route_table
from app.reports.models import Evidence
from tests import factories
from tests.conftest import SIGNATURE, csrf_of, make_user, post_form
from tests.reports.conftest import COMPLETE

# Path parameters that are not ids of someone's records (single-use tokens from mails), or that
# only ever select inside an establishment already checked (year, section, submission number);
# entry_id: public pages of the register (business data of signatories only, tests/register/).
NOT_RECORD_IDS = {"token", "year", "code", "number", "entry_id"}
# Records whose routes are scoped by their own rules, with their own tests: staff accounts (admins
# only, tests/auth/test_staff_admin.py), reports under review (tests/test_staff_scope.py and
# tests/api/test_refusals.py), claims (reviewers of the region, tests/imports/test_claims.py),
# uploaded import files (the admin and session that uploaded them, tests/imports/test_imports.py)
# and API tokens (one's own only, tests/api/test_tokens.py).
SCOPED_ELSEWHERE = {"user_id", "report_id", "claim_id", "upload_key", "token_id"}
RECORD_IDS = {"establishment_id", "evidence_id"}
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _id_routes() -> list[tuple[str, str]]:
    routes = []
    for route in route_table():
        # The JSON API answers with problem details, not pages: tests/api/test_refusals.py.
        if "{establishment_id}" in route.path and not route.path.startswith("/api/"):
            for method in sorted(route.methods - {"HEAD"}):
                routes.append((method, route.path))
    return routes


def test_every_route_with_an_id_is_covered_here():
    for route in route_table():
        params = {p.name for p in route.dependant.path_params}
        assert params <= RECORD_IDS | NOT_RECORD_IDS | SCOPED_ELSEWHERE, (
            f"{route.path}: add its id to the scoping test"
        )
        if params & RECORD_IDS:
            assert "{establishment_id}" in route.path, f"{route.path}: scope it by establishment"


def _row_counts(db) -> dict[str, int]:
    db.expire_all()
    return {
        t.name: db.scalar(select(func.count()).select_from(t))
        for t in SQLModel.metadata.sorted_tables
    }


@pytest.fixture
def victim(app, client, db, open_period):
    """An operator's signed establishment with its report filled in and evidence; an intruder,
    with an establishment of their own, is signed in."""
    owner = make_user(db, "owner@hostal.pe")
    theirs = factories.establishment(db, owner, branch_code="0000")
    factories.signature(db, owner, theirs)
    factories.report(
        app, db, owner, theirs, open_period, COMPLETE, evidence={"policy": ("politica.pdf", PDF)}
    )
    evidence_id = db.scalars(select(Evidence.id)).one()
    intruder = make_user(db, "intruder@otro.pe")
    factories.signed_in(client, db, intruder)
    own = factories.establishment(db, intruder, branch_code="0001", trade_name="Propio")
    return {
        "establishment_id": theirs,
        "evidence_id": evidence_id,
        "year": open_period.year,
        "own": own,
    }


def _url(path: str, ids: dict) -> str:
    return (
        path.replace("{establishment_id}", str(ids["establishment_id"]))
        .replace("{evidence_id}", str(ids["evidence_id"]))
        .replace("{year}", str(ids["year"]))
        .replace("{code}", "policy")
        .replace("{number}", "1")
    )


@pytest.mark.parametrize(("method", "path"), _id_routes())
def test_another_operator_gets_not_found_and_changes_nothing(client, db, victim, method, path):
    url = _url(path, victim)
    before = _row_counts(db)
    if method == "GET":
        response = client.get(url)
    else:
        token = csrf_of(client, f"/establishments/{victim['own']}/sign")
        upload = url.endswith("/evidence")
        data = (
            {"csrf_token": token}
            if upload
            else {
                "csrf_token": token,
                **SIGNATURE,
                **COMPLETE["policy"],
                "version": "1",
                "confirm": "yes",
                "from_previous": "no",
            }
        )
        response = client.request(
            method,
            url,
            data=data,
            files={"file": ("x.pdf", PDF, "application/pdf")}
            if url.endswith("/evidence")
            else None,
        )
    assert response.status_code == 404
    assert "Hostal Ñusta" not in response.text
    assert _row_counts(db) == before


@pytest.mark.parametrize(("method", "path"), _id_routes())
def test_signed_out_visitors_are_sent_to_sign_in(client, db, victim, method, path):
    post_form(client, "/account/logout", {}, form_page="/dashboard")
    response = client.request(method, _url(path, victim))
    assert response.status_code == 303
    assert response.headers["location"].startswith("/account/login?next=")
