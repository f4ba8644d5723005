"""The non-compliance list through the API: JSON or CSV, reviewers of the region only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from app.clock import today
from app.conduct.models import Signature
from app.reports import service as reports
from tests.api.conftest import auth, is_problem, token_for


def test_noncompliance_as_json_and_csv(client, db, operator_token, signed_establishment):
    now = today()
    past = reports.create_period(
        db_session=db,
        data=reports.PeriodInput(
            year=now.year - 3,
            opens_on=now - timedelta(days=200),
            deadline=now - timedelta(days=100),
            grace_days=30,
            cutoff_on=now - timedelta(days=300),
        ),
    )
    db.execute(update(Signature).values(signed_at=datetime.now(UTC) - timedelta(days=400)))
    db.commit()
    reviewer = token_for(db, "revisora@cusco.gob.pe", role="reviewer", regions=("PE-CUS",))
    outsider = token_for(db, "revisor@puno.gob.pe", role="reviewer", regions=("PE-PUN",))
    url = f"/api/v1/noncompliance?period={past.year}"
    listed = client.get(url, headers=auth(reviewer))
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["total"] == 1
    assert body["items"][0]["establishment_id"] == signed_establishment
    assert body["items"][0]["reason"] == "no_report"
    assert client.get(url, headers=auth(outsider)).json()["total"] == 0
    csv = client.get(url, headers={**auth(reviewer), "accept": "text/csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert "Hostal Ñusta" in csv.text and "No report" in csv.text
    is_problem(client.get(url, headers=auth(operator_token)), 403, "forbidden")
    is_problem(client.get(f"{url}&region=PE-XXX", headers=auth(reviewer)), 422)
    is_problem(client.get("/api/v1/noncompliance?period=2099", headers=auth(reviewer)), 404)


def test_not_before_the_grace_period_ends(client, db, open_period):
    reviewer = token_for(db, "revisora@cusco.gob.pe", role="reviewer", regions=("PE-CUS",))
    response = client.get(
        f"/api/v1/noncompliance?period={open_period.year}", headers=auth(reviewer)
    )
    is_problem(response, 409, "list_not_ready")
