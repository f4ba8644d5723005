"""Every form that changes something refuses a post without this session's CSRF token."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import SQLModel

from app.auth.models import User
from app.main import route_table
from app.reports.models import Evidence
from tests import factories
from tests.conftest import (
    SIGNATURE,
    csrf_of,
    establishment_form,
    make_user,
    post_form,
    sign_in,
)

# The JSON API never reads the session cookie (only bearer tokens), so CSRF cannot apply there:
# tests/api/test_tokens.py shows a signed-in browser's cookie is not accepted by the API.
POST_ROUTES = sorted(
    r.path for r in route_table() if "POST" in r.methods and not r.path.startswith("/api/")
)
PLAUSIBLE = {
    **establishment_form(branch_code="0009"),
    **SIGNATURE,
    "email": "new@hostal.pe",
    "password": "Otra-Clave-Segura-2026",
    "password_confirm": "Otra-Clave-Segura-2026",
    "privacy": "yes",
    "lang": "en",
    "next": "/",
    "from_previous": "no",
    "confirm": "yes",
    "version": "1",
    "status": "done",
}


def _row_counts(db) -> dict[str, int]:
    db.expire_all()
    return {
        t.name: db.scalar(select(func.count()).select_from(t))
        for t in SQLModel.metadata.sorted_tables
    }


@pytest.mark.parametrize("path", POST_ROUTES)
@pytest.mark.parametrize("token", ["missing", "another session's"])
def test_post_without_the_sessions_token_changes_nothing(client, app, db, open_period, path, token):
    user = make_user(db, "rosa@hostal.pe")
    factories.signed_in(client, db, user)
    establishment_id = factories.establishment(db, user)
    factories.signature(db, user, establishment_id, language="es")
    evidence = {"policy": ("a.pdf", b"%PDF-1.4 test\n%%EOF\n")}
    factories.report(app, db, user, establishment_id, open_period, evidence=evidence)
    evidence_id = db.scalars(select(Evidence.id)).one()
    url = (
        path.replace("{establishment_id}", str(establishment_id))
        .replace("{token}", "x" * 43)
        .replace("{year}", str(open_period.year))
        .replace("{code}", "policy")
        .replace("{evidence_id}", str(evidence_id))
        .replace("{token_id}", "1")
    )
    data = dict(PLAUSIBLE) if not url.endswith("/evidence") else {}
    files = (
        {"file": ("b.pdf", b"%PDF-1.4 other", "application/pdf")}
        if url.endswith("/evidence")
        else None
    )
    if token != "missing":
        with TestClient(app) as stranger:
            data["csrf_token"] = csrf_of(stranger, "/account/login")
    before = _row_counts(db)
    response = client.post(url, data=data, files=files)
    assert response.status_code in (303, 400, 403), response.status_code
    assert _row_counts(db) == before
    assert db.scalars(select(User.locale).where(User.email == "rosa@hostal.pe")).one() == "es"
    assert client.get("/dashboard").status_code == 200  # still signed in


def test_the_right_token_goes_through(client, db):
    make_user(db, "rosa@hostal.pe")
    sign_in(client, "rosa@hostal.pe")
    response = post_form(client, "/establishments/new", establishment_form())
    assert response.status_code == 303
