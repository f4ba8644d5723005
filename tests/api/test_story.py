"""The whole story through the API alone: register, sign, file with evidence, submit; changes
requested; resubmitted; approved; certificate downloaded; verified; listed in the register."""

from __future__ import annotations

import io

from pypdf import PdfReader

from tests.api.conftest import (
    COMPLETE_JSON,
    PDF,
    SIGNATURE_JSON,
    auth,
    establishment_json,
    token_for,
)


def test_the_whole_story_through_the_api(client, db, open_period, mailbox):
    year = open_period.year
    operator = token_for(db, "rosa@hostal.pe")
    reviewer = token_for(db, "revisora@dircetur.gob.pe", role="reviewer", regions=("PE-CUS",))

    # The operator registers an establishment and signs the Code.
    response = client.post(
        "/api/v1/establishments", json=establishment_json(), headers=auth(operator)
    )
    assert response.status_code == 201, response.text
    establishment = response.json()
    establishment_id = establishment["id"]
    assert response.headers["location"] == f"/api/v1/establishments/{establishment_id}"
    assert establishment["standing"] == "not_signed" and establishment["signature"] is None
    response = client.post(
        f"/api/v1/establishments/{establishment_id}/signature",
        json=SIGNATURE_JSON,
        headers=auth(operator),
    )
    assert response.status_code == 201, response.text
    signatory_number = response.json()["signatory_number"]
    assert signatory_number.startswith("CC-")

    listed = client.get("/api/v1/establishments", headers=auth(operator)).json()
    assert [e["id"] for e in listed["items"]] == [establishment_id]
    assert listed["items"][0]["signature"]["signatory_number"] == signatory_number

    periods = client.get("/api/v1/periods", headers=auth(operator)).json()
    assert {"year": year, "state": "open", "grace_days": 30}.items() <= periods[0].items()

    # A report not started: the empty draft, every applicable section, every figure null.
    url = f"/api/v1/establishments/{establishment_id}/reports/{year}"
    draft = client.get(url, headers=auth(operator)).json()
    assert draft["state"] == "not_started" and draft["version"] == 0
    assert set(draft["sections"]) == set(COMPLETE_JSON)
    for code, section in draft["sections"].items():
        assert section["status"] is None and section["narrative"] is None
        assert set(section["figures"]) >= set(COMPLETE_JSON[code]["figures"])
        assert all(value is None for value in section["figures"].values())

    # Filled in, with evidence, and filed.
    response = client.put(
        url, json={"version": 0, "sections": COMPLETE_JSON}, headers=auth(operator)
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["state"] == "draft" and report["problems"] == {}
    assert report["sections"]["training"]["figures"]["sessions"] == [
        {"date": "2024-05-03", "provider": "DIRCETUR Cusco", "hours": 2.5}
    ]
    response = client.post(
        f"{url}/evidence",
        data={"section": "policy"},
        files={"file": ("política.pdf", PDF, "application/pdf")},
        headers=auth(operator),
    )
    assert response.status_code == 201, response.text
    assert response.json()["content_type"] == "application/pdf"
    response = client.post(
        f"{url}/submit",
        json={"version": report["version"]},
        headers={**auth(operator), "idempotency-key": "submit-1"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "submitted"
    assert response.json()["submission"]["number"] == 1

    # The reviewer of the region asks for changes.
    queue = client.get(
        "/api/v1/reviews", params={"period": year, "region": "PE-CUS"}, headers=auth(reviewer)
    ).json()
    assert [item["establishment_id"] for item in queue["items"]] == [establishment_id]
    report_id = queue["items"][0]["report_id"]
    response = client.post(
        f"/api/v1/reports/{report_id}/decision",
        json={
            "decision": "request_changes",
            "comment": "Add the second training session.",
            "section_comments": {"training": "Only one session is listed."},
        },
        headers={**auth(reviewer), "idempotency-key": "decision-1"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "changes_requested"

    # The operator reads the comments, amends and files again.
    report = client.get(url, headers=auth(operator)).json()
    assert report["state"] == "changes_requested"
    assert report["decision"]["section_comments"] == {"training": "Only one session is listed."}
    training = COMPLETE_JSON["training"] | {
        "figures": COMPLETE_JSON["training"]["figures"]
        | {
            "sessions": [
                {"date": "2024-05-03", "provider": "DIRCETUR Cusco", "hours": 2.5},
                {"date": "2024-09-12", "provider": "DIRCETUR Cusco", "hours": 2},
            ]
        }
    }
    response = client.put(
        url,
        json={"version": report["version"], "sections": {"training": training}},
        headers=auth(operator),
    )
    assert response.status_code == 200, response.text
    response = client.post(f"{url}/submit", headers=auth(operator))
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "resubmitted"
    assert response.json()["submission"]["number"] == 2

    # The reviewer approves: a certificate is issued.
    response = client.post(
        f"/api/v1/reports/{report_id}/decision",
        json={"decision": "approve", "comment": ""},
        headers=auth(reviewer),
    )
    assert response.status_code == 200, response.text
    certificate = response.json()["certificate"]
    assert certificate["number"] == f"CERT-{year}-{establishment_id:06d}"

    # The operator downloads the certificate PDF.
    response = client.get(
        f"/api/v1/establishments/{establishment_id}/certificates/{year}", headers=auth(operator)
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    assert certificate["number"] in text and "Hostal Ñusta" in text

    # Anyone verifies it and finds the establishment in the register.
    verified = client.get(f"/api/v1/verify/{certificate['verification_code']}").json()
    assert verified["status"] == "valid"
    assert verified["establishment"]["trade_name"] == "Hostal Ñusta"
    found = client.get("/api/v1/register", params={"q": "hostal"}).json()
    assert found["total"] == 1 and found["pages"] == 1
    item = found["items"][0]
    assert item["id"] == establishment_id
    assert item["standing"] == "good_standing"
    assert item["signatory_number"] == signatory_number
    assert item["last_approved_year"] == year
    assert item["certificate_valid_until"] == certificate["valid_until"]
    assert "address" not in item and "phone" not in item
    assert client.get(f"/api/v1/register/{establishment_id}").json() == item
