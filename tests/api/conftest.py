"""Helpers for the API tests: tokens, headers, and a complete report as JSON."""

from __future__ import annotations

from typing import Any

import pytest

from app.auth.service import get_user_by_email
from tests import factories
from tests.conftest import make_user, valid_ruc

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"

COMPLETE_JSON: dict[str, dict[str, Any]] = {
    "policy": {
        "status": "done",
        "narrative": "Policy approved by the board and posted at reception.",
        "figures": {
            "adopted": True,
            "adopted_on": "2024-02-10",
            "published_where": "Reception and web site",
        },
    },
    "training": {
        "status": "partly",
        "narrative": "Two sessions with the regional directorate.",
        "figures": {
            "staff_total": 12,
            "staff_trained": 9,
            "sessions": [{"date": "2024-05-03", "provider": "DIRCETUR Cusco", "hours": 2.5}],
        },
    },
    "supplier_contracts": {
        "status": "done",
        "narrative": "Clause added to all contracts.",
        "figures": {"contracts_total": 5, "contracts_with_clause": 5},
    },
    "traveller_information": {
        "status": "done",
        "narrative": "Poster at reception and in rooms.",
        "figures": {
            "poster_displayed": True,
            "poster_locations": "Reception, rooms",
            "on_website": True,
        },
    },
    "minors_entry_control": {
        "status": "done",
        "narrative": "Identity and relationship checked at check-in.",
        "figures": {"procedure_in_place": True, "entries_refused": 1},
    },
    "reporting": {
        "status": "done",
        "narrative": "One suspicious situation reported to the police.",
        "figures": {"cases_detected": 1, "cases_reported": 1, "reported_police": 1},
    },
    "local_stakeholders": {
        "status": "done",
        "narrative": "Took part in the district's child protection network.",
        "figures": {"activities": 3},
    },
}

SIGNATURE_JSON = {
    "representative_name": "Rosa Quispe Mamani",
    "document_type": "DNI",
    "document_number": "41234567",
    "accept": True,
}


def establishment_json(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "ruc": valid_ruc("2060412345"),
        "branch_code": "0000",
        "legal_name": "Inversiones Ñusta S.A.C.",
        "trade_name": "Hostal Ñusta",
        "category": "lodging",
        "region": "PE-CUS",
        "province": "Cusco",
        "district": "Cusco",
        "address": "Calle Procuradores 351",
        "website": "https://hostalnusta.pe",
        "phone": "084 251234",
    }
    data.update(overrides)
    return data


def token_for(db, email: str, role: str = "operator", regions: tuple[str, ...] = ()) -> str:  # type: ignore[no-untyped-def]
    """A new account with a personal API token; returns the token."""
    from app.api.tokens import create_token

    user = make_user(db, email, role=role, regions=regions)
    _record, token = create_token(db_session=db, user=user, name="tests")
    db.commit()
    return token


def auth(token: str, lang: str = "en") -> dict[str, str]:
    return {"authorization": f"Bearer {token}", "accept-language": lang}


def is_problem(response, status: int, code: str | None = None) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    assert response.status_code == status, (response.status_code, response.text[:1000])
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["title"] and body["detail"]
    if code is not None:
        assert body["code"] == code, body
    return body


@pytest.fixture
def operator_token(db) -> str:  # type: ignore[no-untyped-def]
    return token_for(db, "rosa@hostal.pe")


@pytest.fixture
def signed_through_the_api(client, operator_token) -> int:  # type: ignore[no-untyped-def]
    """An establishment of the operator, registered and signed through the API (the operator has
    the acknowledgement mail)."""
    response = client.post(
        "/api/v1/establishments", json=establishment_json(), headers=auth(operator_token)
    )
    assert response.status_code == 201, response.text
    establishment_id = response.json()["id"]
    response = client.post(
        f"/api/v1/establishments/{establishment_id}/signature",
        json=SIGNATURE_JSON,
        headers=auth(operator_token),
    )
    assert response.status_code == 201, response.text
    return establishment_id


@pytest.fixture
def signed_establishment(db, operator_token) -> int:  # type: ignore[no-untyped-def]
    """An establishment of the operator's (as establishment_json describes it), signed.

    Registering and signing through the API are tested in test_story.py and test_refusals.py."""
    operator = get_user_by_email(db_session=db, email="rosa@hostal.pe")
    assert operator is not None
    establishment_id = factories.establishment(db, operator)
    factories.signature(db, operator, establishment_id)
    return establishment_id
