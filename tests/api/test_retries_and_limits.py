"""Retried POSTs are safe (Idempotency-Key), and each token is rate limited across processes."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.main import create_app, dispose_engines
from app.reports.models import AnnualReport, ReportSubmission
from app.reviews.models import ReviewDecision
from tests.api.conftest import COMPLETE_JSON, auth, is_problem, token_for


def _ready(client, open_period, operator_token, establishment_id) -> str:  # type: ignore[no-untyped-def]
    url = f"/api/v1/establishments/{establishment_id}/reports/{open_period.year}"
    response = client.put(
        url, json={"version": 0, "sections": COMPLETE_JSON}, headers=auth(operator_token)
    )
    assert response.status_code == 200
    return url


def test_a_retried_submit_gets_the_first_answer_and_files_once(
    client, db, open_period, operator_token, signed_through_the_api, mailbox
):
    url = _ready(client, open_period, operator_token, signed_through_the_api)
    headers = {**auth(operator_token), "idempotency-key": "7f1c-submit"}
    first = client.post(f"{url}/submit", json={"version": 2}, headers=headers)
    assert first.status_code == 200, first.text
    again = client.post(f"{url}/submit", json={"version": 2}, headers=headers)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert db.scalar(select(func.count()).select_from(ReportSubmission)) == 1
    assert len(mailbox.to("rosa@hostal.pe")) == 2  # the signature and one receipt
    # The same key for another request is refused; a new key acts (and is refused: already filed).
    other = client.post(f"{url}/submit", json={"version": 3}, headers=headers)
    is_problem(other, 422, "idempotency_key_reused")
    new_key = {**auth(operator_token), "idempotency-key": "another"}
    is_problem(client.post(f"{url}/submit", json={"version": 3}, headers=new_key), 409)
    # Keys belong to their user: another user's same key is a new key.
    intruder = token_for(db, "intruso@otro.pe")
    response = client.post(
        f"{url}/submit",
        json={"version": 2},
        headers={**auth(intruder), "idempotency-key": "7f1c-submit"},
    )
    is_problem(response, 404)


def test_a_retried_decision_is_taken_once(
    client, db, open_period, operator_token, signed_establishment
):
    url = _ready(client, open_period, operator_token, signed_establishment)
    assert client.post(f"{url}/submit", headers=auth(operator_token)).status_code == 200
    reviewer = token_for(db, "revisora@cusco.gob.pe", role="reviewer", regions=("PE-CUS",))
    report_id = db.scalars(select(AnnualReport.id)).one()
    decision = {"decision": "approve", "comment": "Conforme."}
    headers = {**auth(reviewer), "idempotency-key": "decision-42"}
    first = client.post(f"/api/v1/reports/{report_id}/decision", json=decision, headers=headers)
    assert first.status_code == 200, first.text
    again = client.post(f"/api/v1/reports/{report_id}/decision", json=decision, headers=headers)
    assert again.status_code == 200 and again.json() == first.json()
    assert db.scalar(select(func.count()).select_from(ReviewDecision)) == 1
    changed = client.post(
        f"/api/v1/reports/{report_id}/decision",
        json={"decision": "reject", "comment": "No.", "reason": "other"},
        headers=headers,
    )
    is_problem(changed, 422, "idempotency_key_reused")
    # Without the key, a second decision is a conflict.
    is_problem(
        client.post(f"/api/v1/reports/{report_id}/decision", json=decision, headers=auth(reviewer)),
        409,
        "already_decided",
    )


def test_a_failed_request_does_not_use_up_its_key(
    client, db, open_period, operator_token, signed_establishment
):
    url = f"/api/v1/establishments/{signed_establishment}/reports/{open_period.year}"
    headers = {**auth(operator_token), "idempotency-key": "early"}
    client.put(
        url,
        json={"version": 0, "sections": {"policy": COMPLETE_JSON["policy"]}},
        headers=auth(operator_token),
    )
    is_problem(client.post(f"{url}/submit", headers=headers), 422)
    _full = client.put(
        url, json={"version": 2, "sections": COMPLETE_JSON}, headers=auth(operator_token)
    )
    assert _full.status_code == 200, _full.text
    assert client.post(f"{url}/submit", headers=headers).status_code == 200


def test_rate_limit_headers_and_429_shared_by_two_workers(app, database_url, db, tmp_path):
    token = token_for(db, "rosa@hostal.pe")
    app.state.settings.api_rate_limit_per_minute = 3
    # A second application on the same database: another worker process.
    other = create_app(app.state.settings)
    with TestClient(app) as first, TestClient(other) as second:
        response = first.get("/api/v1/periods", headers=auth(token))
        assert response.status_code == 200
        assert response.headers["ratelimit-limit"] == "3"
        assert response.headers["ratelimit-remaining"] == "2"
        assert 0 < int(response.headers["ratelimit-reset"]) <= 60
        assert (
            second.get("/api/v1/periods", headers=auth(token)).headers["ratelimit-remaining"] == "1"
        )
        assert (
            first.get("/api/v1/periods", headers=auth(token)).headers["ratelimit-remaining"] == "0"
        )
        refused = second.get("/api/v1/periods", headers=auth(token))
        body = is_problem(refused, 429, "rate_limited")
        assert "3" in body["detail"]
        assert 0 < int(refused.headers["retry-after"]) <= 60
        assert refused.headers["ratelimit-remaining"] == "0"
        is_problem(first.get("/api/v1/establishments", headers=auth(token)), 429)
        # Another token has its own count; public endpoints need none.
        fresh = token_for(db, "otro@hostal.pe")
        assert first.get("/api/v1/periods", headers=auth(fresh)).status_code == 200
        assert second.get("/api/v1/register").status_code == 200
    dispose_engines(other)


def test_the_window_moves_on(db):
    from app.api.ratelimit import hit

    token_for(db, "rosa@hostal.pe")
    from app.api.models import ApiToken

    token_id = db.scalars(select(ApiToken.id)).one()
    engine = db.get_bind()
    with engine.begin() as connection:
        assert hit(connection, token_id, 2, now=600.0).used == 1
        assert hit(connection, token_id, 2, now=630.0).used == 2
        assert hit(connection, token_id, 2, now=659.0).exceeded is True
    with engine.begin() as connection:
        quota = hit(connection, token_id, 2, now=661.0)
        assert (quota.used, quota.remaining, quota.reset) == (1, 1, 59)
