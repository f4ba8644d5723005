"""Schemathesis against /openapi.json: for every operation, a bounded number of generated requests
(public, and with an operator's token), none answering 5xx and every answer matching its schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from tests.api.conftest import COMPLETE_JSON, auth

EXAMPLES = 15


def test_every_operation_keeps_to_its_schema(
    app, database_url, client, db, open_period, operator_token, signed_establishment
):
    if not database_url.startswith("sqlite"):
        pytest.skip("run once, on SQLite (the services are tested on both databases elsewhere)")
    url = f"/api/v1/establishments/{signed_establishment}/reports/{open_period.year}"
    client.put(url, json={"version": 0, "sections": COMPLETE_JSON}, headers=auth(operator_token))
    app.state.settings.api_rate_limit_per_minute = 1_000_000
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14
    failures = []
    calls: dict[int, int] = {}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case) -> None:  # type: ignore[no-untyped-def]
            # Public operations are also called without a token (the others then answer 401).
            headers = auth(operator_token) if sum(calls.values()) % 3 else {"accept-language": "en"}
            response = case.call(headers=headers)
            calls[response.status_code] = calls.get(response.status_code, 0) + 1
            case.validate_response(
                response, checks=[not_a_server_error, response_schema_conformance]
            )

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.label}: {exc}"[:3000])
    assert not failures, "\n\n".join(failures)
    assert sum(calls.values()) >= len(operations) * 5, calls
    assert {200, 401, 404, 422} <= set(calls), calls
