"""Every endpoint's refusals, each with its status and problem details: no token, wrong role,
someone else's record, another region, bad data, conflicts."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlmodel import SQLModel

from app.api.v1 import router
from tests.api.conftest import (
    COMPLETE_JSON,
    PDF,
    SIGNATURE_JSON,
    auth,
    establishment_json,
    is_problem,
    token_for,
)
from tests.conftest import valid_ruc

PUBLIC = {"/api/v1/register", "/api/v1/register/{establishment_id}", "/api/v1/verify/{code}"}
PROTECTED = sorted(
    (method, route.path)
    for route in router.routes
    for method in route.methods  # type: ignore[attr-defined]
    if route.path not in PUBLIC  # type: ignore[attr-defined]
)
ESTABLISHMENT_ROUTES = [(m, p) for m, p in PROTECTED if "{establishment_id}" in p]


def _row_counts(db) -> dict[str, int]:
    db.expire_all()
    return {
        t.name: db.scalar(select(func.count()).select_from(t))
        for t in SQLModel.metadata.sorted_tables
        if t.name not in ("api_rate_counter", "api_token")
    }


def _url(path: str, establishment_id: int = 1, year: int = 2025, report_id: int = 1) -> str:
    return (
        path.replace("{establishment_id}", str(establishment_id))
        .replace("{year}", str(year))
        .replace("{report_id}", str(report_id))
    )


def _send(client, method: str, url: str, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    if url.endswith("/evidence"):
        return client.post(
            url,
            data={"section": "policy"},
            files={"file": ("a.pdf", PDF, "application/pdf")},
            headers=headers,
        )
    body = (
        {"version": 1, "sections": {}}
        if method == "PUT"
        else SIGNATURE_JSON
        if url.endswith("/signature")
        else {"decision": "approve"}
        if url.endswith("/decision")
        else establishment_json(branch_code="0042")
        if url.endswith("/establishments")
        else None
    )
    return client.request(method, url, json=body, headers=headers)


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize("token", ["none", "unknown", "revoked", "not bearer"])
def test_without_a_valid_token_401(client, db, method, path, token):
    from app.api.models import ApiToken
    from app.db import utcnow

    valid = token_for(db, "rosa@hostal.pe")
    record = db.scalars(select(ApiToken)).one()
    record.revoked_at = utcnow()
    db.commit()
    headers = {
        "none": {},
        "unknown": {"authorization": "Bearer cdc_" + "x" * 43},
        "revoked": {"authorization": f"Bearer {valid}"},
        "not bearer": {"authorization": f"Basic {valid}"},
    }[token]
    response = _send(client, method, _url(path), {**headers, "accept-language": "en"})
    body = is_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in body["detail"]


def test_a_signed_in_browser_session_is_not_accepted_by_the_api(client, db):
    from tests.conftest import make_user, sign_in

    make_user(db, "rosa@hostal.pe")
    sign_in(client, "rosa@hostal.pe")
    assert client.get("/dashboard").status_code == 200
    is_problem(client.get("/api/v1/establishments"), 401, "unauthorized")
    response = client.post("/api/v1/establishments", json=establishment_json())
    is_problem(response, 401, "unauthorized")
    assert _row_counts(db)["establishment"] == 0


@pytest.mark.parametrize(("method", "path"), ESTABLISHMENT_ROUTES)
def test_another_operators_establishment_is_not_found_and_nothing_changes(
    client, db, open_period, signed_establishment, method, path
):
    intruder = token_for(db, "intruso@otro.pe")
    before = _row_counts(db)
    url = _url(path, signed_establishment, open_period.year)
    response = _send(client, method, url, auth(intruder))
    is_problem(response, 404, "not_found")
    assert "Ñusta" not in response.text
    assert _row_counts(db) == before


@pytest.mark.parametrize(
    ("method", "path"),
    [(m, p) for m, p in ESTABLISHMENT_ROUTES if m == "GET"],
)
def test_a_reviewer_of_another_region_gets_not_found(
    client, db, open_period, signed_establishment, method, path
):
    outsider = token_for(db, "revisor@puno.gob.pe", role="reviewer", regions=("PE-PUN",))
    url = _url(path, signed_establishment, open_period.year)
    is_problem(client.get(url, headers=auth(outsider)), 404, "not_found")


def test_a_reviewer_of_the_region_reads_but_may_not_write(
    client, db, open_period, signed_establishment
):
    reviewer = token_for(db, "revisora@cusco.gob.pe", role="reviewer", regions=("PE-CUS",))
    base = f"/api/v1/establishments/{signed_establishment}"
    assert client.get(base, headers=auth(reviewer)).status_code == 200
    report = f"{base}/reports/{open_period.year}"
    assert client.get(report, headers=auth(reviewer)).json()["state"] == "not_started"
    before = _row_counts(db)
    for method, url in [
        ("POST", "/api/v1/establishments"),
        ("POST", f"{base}/signature"),
        ("PUT", report),
        ("POST", f"{report}/evidence"),
        ("POST", f"{report}/submit"),
    ]:
        body = is_problem(_send(client, method, url, auth(reviewer)), 403, "forbidden")
        assert body["detail"] == "Your account's role may not do this through the API."
    assert _row_counts(db) == before


def test_operators_and_admins_may_not_use_the_staff_endpoints(client, db):
    operator = token_for(db, "rosa@hostal.pe")
    admin = token_for(db, "admin@mincetur.gob.pe", role="admin")
    for token in (operator, admin):
        is_problem(client.get("/api/v1/reviews", headers=auth(token)), 403, "forbidden")
        response = client.post(
            "/api/v1/reports/1/decision", json={"decision": "approve"}, headers=auth(token)
        )
        is_problem(response, 403, "forbidden")


def test_bad_establishment_data_422_with_a_message_per_field(client, db):
    operator = token_for(db, "rosa@hostal.pe")
    response = client.post(
        "/api/v1/establishments",
        json=establishment_json(ruc="20604123450", category="casino", region="PE-XXX", phone="x"),
        headers=auth(operator),
    )
    body = is_problem(response, 422, "validation_error")
    assert set(body["errors"]) == {"ruc", "category", "region", "phone"}
    assert body["errors"]["category"] == "Choose the establishment's category"
    missing = client.post("/api/v1/establishments", json={"ruc": "1"}, headers=auth(operator))
    assert "trade_name" in is_problem(missing, 422, "validation_error")["errors"]
    broken = client.post(
        "/api/v1/establishments",
        content=b"{not json",
        headers={**auth(operator), "content-type": "application/json"},
    )
    is_problem(broken, 422, "validation_error")
    nul = client.post(
        "/api/v1/establishments",
        json=establishment_json(trade_name="Hostal\x00"),
        headers=auth(operator),
    )
    assert "trade_name" in is_problem(nul, 422, "validation_error")["errors"]
    assert _row_counts(db)["establishment"] == 0


def test_duplicate_ruc_and_branch_409(client, db, signed_establishment):
    other = token_for(db, "otro@hostal.pe")
    response = client.post("/api/v1/establishments", json=establishment_json(), headers=auth(other))
    body = is_problem(response, 409, "duplicate_establishment")
    assert "branch_code" in body["errors"]


def test_signing_refusals(client, db, operator_token, signed_establishment):
    url = f"/api/v1/establishments/{signed_establishment}/signature"
    again = client.post(url, json=SIGNATURE_JSON, headers=auth(operator_token))
    is_problem(again, 409, "already_signed")
    response = client.post(
        "/api/v1/establishments",
        json=establishment_json(branch_code="0001"),
        headers=auth(operator_token),
    )
    second = response.json()["id"]
    bad = client.post(
        f"/api/v1/establishments/{second}/signature",
        json=SIGNATURE_JSON | {"document_number": "123", "accept": False},
        headers=auth(operator_token),
    )
    body = is_problem(bad, 422, "validation_error")
    assert set(body["errors"]) == {"document_number", "accept"}


def test_report_refusals(client, db, open_period, operator_token, signed_establishment):
    url = f"/api/v1/establishments/{signed_establishment}/reports/{open_period.year}"
    headers = auth(operator_token)
    # Wrong types and unknown names, each named where it is in the JSON.
    bad = {
        "policy": {"status": "done", "figures": {"adopted": "yes", "unknown": 1}},
        "training": {"figures": {"staff_total": -1, "sessions": [{"date": "31/02/2024"}]}},
        "nonsense": {"status": "done"},
    }
    body = is_problem(
        client.put(url, json={"version": 0, "sections": bad}, headers=headers),
        422,
        "validation_error",
    )
    assert body["errors"] == {
        "sections.policy.figures.adopted": "Send true or false",
        "sections.policy.figures.unknown": "This report does not ask for this figure",
        "sections.training.figures.staff_total": "Enter a whole number, 0 or more, for: "
        "Staff in total",
        "sections.training.figures.sessions.0.date": "Enter a real date, like 15/03/"
        f"{open_period.year}",
        "sections.nonsense": "This report has no such section",
    } or set(body["errors"]) >= {"sections.policy.figures.adopted", "sections.nonsense"}
    assert client.get(url, headers=headers).json()["state"] == "not_started"
    # A rule of the form: trained staff above total staff.
    rule = {"training": {"figures": {"staff_total": 3, "staff_trained": 5}}}
    body = is_problem(
        client.put(url, json={"version": 0, "sections": rule}, headers=headers),
        422,
        "validation_error",
    )
    assert "sections.training.figures.staff_trained" in body["errors"]
    # Stale version.
    saved = client.put(url, json={"version": 0, "sections": COMPLETE_JSON}, headers=headers)
    assert saved.status_code == 200
    stale = client.put(url, json={"version": 0, "sections": COMPLETE_JSON}, headers=headers)
    is_problem(stale, 409, "stale_version")
    # Submitting an incomplete report, then a filed one cannot be changed or filed again.
    other = client.post(
        "/api/v1/establishments",
        json=establishment_json(branch_code="0003"),
        headers=headers,
    ).json()["id"]
    is_problem(
        client.post(
            f"/api/v1/establishments/{other}/reports/{open_period.year}/submit", headers=headers
        ),
        422,
    )
    version = saved.json()["version"]
    assert (
        client.post(f"{url}/submit", json={"version": version}, headers=headers).status_code == 200
    )
    is_problem(client.post(f"{url}/submit", headers=headers), 409, "already_submitted")
    filed = client.put(url, json={"version": version + 1, "sections": {}}, headers=headers)
    assert filed.status_code == 409
    evidence = client.post(
        f"{url}/evidence",
        data={"section": "policy"},
        files={"file": ("a.pdf", PDF, "application/pdf")},
        headers=headers,
    )
    is_problem(evidence, 409, "not_editable")
    # A year without a period.
    is_problem(client.get(url.replace(str(open_period.year), "2090"), headers=headers), 404)


def test_evidence_refusals(client, db, app, open_period, operator_token, signed_establishment):
    url = f"/api/v1/establishments/{signed_establishment}/reports/{open_period.year}/evidence"
    headers = auth(operator_token)
    app.state.settings.evidence_max_file_bytes = 1_000
    big = client.post(
        url,
        data={"section": "policy"},
        files={"file": ("big.pdf", PDF + b"0" * 2_000, "application/pdf")},
        headers=headers,
    )
    assert "file" in is_problem(big, 413, "payload_too_large")["errors"]
    huge = client.post(
        url,
        data={"section": "policy"},
        files={"file": ("huge.pdf", PDF + b"0" * 200_000, "application/pdf")},
        headers=headers,
    )
    is_problem(huge, 413, "payload_too_large")
    exe = client.post(
        url,
        data={"section": "policy"},
        files={"file": ("a.pdf", b"MZ\x90\x00", "application/pdf")},
        headers=headers,
    )
    assert "file" in is_problem(exe, 422, "invalid_file")["errors"]
    nowhere = client.post(
        url,
        data={"section": "casino"},
        files={"file": ("a.pdf", PDF, "application/pdf")},
        headers=headers,
    )
    assert "section" in is_problem(nowhere, 422, "validation_error")["errors"]
    nofile = client.post(url, data={"section": "policy"}, headers=headers)
    assert "file" in is_problem(nofile, 422, "validation_error")["errors"]


def _filed(client, db, open_period, operator_token, establishment_id) -> int:  # type: ignore[no-untyped-def]
    url = f"/api/v1/establishments/{establishment_id}/reports/{open_period.year}"
    headers = auth(operator_token)
    version = client.put(
        url, json={"version": 0, "sections": COMPLETE_JSON}, headers=headers
    ).json()["version"]
    assert (
        client.post(f"{url}/submit", json={"version": version}, headers=headers).status_code == 200
    )
    from app.reports.models import AnnualReport

    return db.scalars(select(AnnualReport.id)).one()


def test_decision_refusals(client, db, open_period, operator_token, signed_establishment):
    report_id = _filed(client, db, open_period, operator_token, signed_establishment)
    url = f"/api/v1/reports/{report_id}/decision"
    outsider = token_for(db, "revisor@puno.gob.pe", role="reviewer", regions=("PE-PUN",))
    reviewer = token_for(db, "revisora@cusco.gob.pe", role="reviewer", regions=("PE-CUS",))
    national = token_for(db, "ministerio@mincetur.gob.pe", role="national_reviewer")
    is_problem(client.post(url, json={"decision": "approve"}, headers=auth(outsider)), 404)
    is_problem(
        client.post(
            "/api/v1/reports/999999/decision", json={"decision": "approve"}, headers=auth(reviewer)
        ),
        404,
    )
    assert client.get("/api/v1/reviews", headers=auth(outsider)).json()["total"] == 0
    assert client.get("/api/v1/reviews", headers=auth(national)).json()["total"] == 1
    body = is_problem(
        client.post(url, json={"decision": "request_changes"}, headers=auth(reviewer)), 422
    )
    assert body["errors"] == {"comment": "Say what the operator has to change"}
    body = is_problem(
        client.post(
            url,
            json={"decision": "reject", "comment": "No.", "reason": "bad"},
            headers=auth(reviewer),
        ),
        422,
    )
    assert "reason" in body["errors"]
    body = is_problem(
        client.post(
            url,
            json={
                "decision": "request_changes",
                "comment": "x",
                "section_comments": {"casino": "x"},
            },
            headers=auth(reviewer),
        ),
        422,
    )
    assert "section_comments.casino" in body["errors"]
    is_problem(client.post(url, json={"decision": "maybe"}, headers=auth(reviewer)), 422)
    assert client.post(url, json={"decision": "approve"}, headers=auth(reviewer)).status_code == 200
    is_problem(
        client.post(url, json={"decision": "approve"}, headers=auth(national)),
        409,
        "already_decided",
    )


def test_query_refusals(client, db):
    reviewer = token_for(db, "revisora@cusco.gob.pe", role="reviewer", regions=("PE-CUS",))
    assert "region" in is_problem(client.get("/api/v1/register?region=PE-XXX"), 422)["errors"]
    assert "standing" in is_problem(client.get("/api/v1/register?standing=great"), 422)["errors"]
    assert "per_page" in is_problem(client.get("/api/v1/register?per_page=1000"), 422)["errors"]
    is_problem(client.get("/api/v1/reviews?state=lost", headers=auth(reviewer)), 422)
    is_problem(client.get("/api/v1/register/abc"), 404, "not_found")
    is_problem(client.get("/api/v1/register/999999"), 404, "not_found")
    is_problem(client.get("/api/v1/verify/NOT-A-CODE"), 404, "not_found")
    is_problem(client.get("/api/v1/nowhere"), 404, "not_found")
    is_problem(client.delete("/api/v1/register"), 405, "method_not_allowed")
    is_problem(client.get("/api/v1/register?q=a%00b"), 400, "bad_request")


def test_problems_in_the_language_asked_for(client, db):
    operator = token_for(db, "rosa@hostal.pe")
    data = establishment_json(category="casino")
    spanish = client.post(
        "/api/v1/establishments", json=data, headers=auth(operator, "es-PE,es;q=0.9,en;q=0.5")
    )
    body = is_problem(spanish, 422)
    assert spanish.headers["content-language"] == "es"
    assert body["errors"]["category"] == "Elija la categoría del establecimiento"
    english = client.post(
        "/api/v1/establishments", json=data, headers=auth(operator, "fr;q=1, en;q=0.8")
    )
    assert is_problem(english, 422)["errors"]["category"] == "Choose the establishment's category"
    assert english.headers["content-language"] == "en"
    # Spanish by default, also before any token is read.
    default = client.get("/api/v1/establishments")
    assert default.headers["content-language"] == "es"
    is_problem(default, 401, "unauthorized")


def test_html_pages_keep_their_error_pages(client):
    assert client.get("/establishments/999999").status_code == 303  # to the sign-in page
    response = client.get("/no-such-page")
    assert response.status_code == 404 and response.headers["content-type"].startswith("text/html")


__all__ = ["valid_ruc"]
