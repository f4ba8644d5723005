"""Staff see only their regions: a reviewer outside a report's region gets 404 on every staff route
that takes a report, and nothing of it in the queue, its counts, the dashboard or the audit log."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import SQLModel

from app.auth.service import get_user_by_email
from app.main import route_table
from tests import factories
from tests.conftest import csrf_of, make_user, sign_in
from tests.reports.conftest import COMPLETE

# The pages; the API's decision route (a bearer token, not a session) has its refusals tested in
# tests/api/test_refusals.py.
REPORT_ROUTES = sorted(
    (method, r.path)
    for r in route_table()
    if "{report_id}" in r.path and not r.path.startswith("/api/")
    for method in r.methods - {"HEAD"}
)


def test_every_report_route_is_listed():
    assert REPORT_ROUTES, "the review routes take {report_id}"
    for _method, path in REPORT_ROUTES:
        assert path.startswith("/review/")


@pytest.fixture
def filed_report(app, db, open_period, operator_with_establishment):
    """A lodging in Cusco with its report filed; returns the report id."""
    operator = get_user_by_email(db_session=db, email="rosa@hostal.pe")
    assert operator is not None
    started = factories.report(
        app, db, operator, operator_with_establishment, open_period, COMPLETE
    )
    return factories.submission(db, operator, started).report_id


def _counts(db) -> dict[str, int]:
    db.expire_all()
    return {
        t.name: db.scalar(select(func.count()).select_from(t))
        for t in SQLModel.metadata.sorted_tables
    }


@pytest.mark.parametrize(("method", "path"), REPORT_ROUTES)
def test_a_reviewer_of_another_region_gets_not_found(app, db, filed_report, method, path):
    make_user(db, "puno@dircetur.pe", role="reviewer", regions=("PE-PUN",))
    url = path.replace("{report_id}", str(filed_report))
    with TestClient(app, follow_redirects=False) as puno:
        sign_in(puno, "puno@dircetur.pe")
        before = _counts(db)
        if method == "GET":
            response = puno.get(url)
        else:
            token = csrf_of(puno, "/review")
            response = puno.post(
                url, data={"csrf_token": token, "decision": "approved", "submission": "1"}
            )
        assert response.status_code == 404
        assert "Hostal Ñusta" not in response.text
        assert _counts(db) == before


@pytest.mark.parametrize("path", [p for m, p in REPORT_ROUTES if m == "GET"])
def test_a_reviewer_of_the_region_reaches_it(app, db, filed_report, path):
    make_user(db, "cusco@dircetur.pe", role="reviewer", regions=("PE-CUS",))
    with TestClient(app, follow_redirects=False) as cusco:
        sign_in(cusco, "cusco@dircetur.pe")
        assert cusco.get(path.replace("{report_id}", str(filed_report))).status_code == 200


def test_queue_dashboard_and_counts_show_nothing_of_another_region(app, db, filed_report):
    make_user(db, "puno@dircetur.pe", role="reviewer", regions=("PE-PUN",))
    make_user(db, "cusco@dircetur.pe", role="reviewer", regions=("PE-CUS",))
    with TestClient(app, follow_redirects=False) as cusco:
        sign_in(cusco, "cusco@dircetur.pe")
        assert "Hostal Ñusta" in cusco.get("/review").text
    with TestClient(app, follow_redirects=False) as puno:
        sign_in(puno, "puno@dircetur.pe")
        queue = puno.get("/review")
        assert queue.status_code == 200
        assert "Hostal Ñusta" not in queue.text
        assert "Hostal Ñusta" not in puno.get("/dashboard").text
        assert "Hostal Ñusta" not in puno.get("/audit").text
        assert puno.get("/staff/dashboard", params={"region": "PE-CUS"}).status_code == 404
        assert puno.get("/staff/dashboard.csv", params={"region": "PE-CUS"}).status_code == 404
