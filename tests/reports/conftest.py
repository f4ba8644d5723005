"""Fixtures for reports: an open period and an operator with a signed establishment."""

from __future__ import annotations

from datetime import date

from tests.conftest import post_form

COMPLETE = {
    "policy": {
        "status": "done",
        "narrative": "Policy approved by the board and posted at reception.",
        "fig-adopted": "yes",
        "fig-adopted_on": "2024-02-10",
        "fig-published_where": "Reception and web site",
    },
    "training": {
        "status": "partly",
        "narrative": "Two sessions with the regional directorate.",
        "fig-staff_total": "12",
        "fig-staff_trained": "9",
        "fig-sessions-0-date": "2024-05-03",
        "fig-sessions-0-provider": "DIRCETUR Cusco",
        "fig-sessions-0-hours": "2.5",
    },
    "supplier_contracts": {
        "status": "done",
        "narrative": "Clause added to all contracts.",
        "fig-contracts_total": "5",
        "fig-contracts_with_clause": "5",
    },
    "traveller_information": {
        "status": "done",
        "narrative": "Poster at reception and in rooms.",
        "fig-poster_displayed": "yes",
        "fig-poster_locations": "Reception, rooms",
        "fig-on_website": "yes",
    },
    "minors_entry_control": {
        "status": "done",
        "narrative": "Identity and relationship checked at check-in.",
        "fig-procedure_in_place": "yes",
        "fig-entries_refused": "1",
    },
    "reporting": {
        "status": "done",
        "narrative": "One suspicious situation reported to the police.",
        "fig-cases_detected": "1",
        "fig-cases_reported": "1",
        "fig-reported_police": "1",
    },
    "local_stakeholders": {
        "status": "done",
        "narrative": "Took part in the district's child protection network.",
        "fig-activities": "3",
    },
}


def report_url(establishment_id: int, period) -> str:  # type: ignore[no-untyped-def]
    return f"/establishments/{establishment_id}/reports/{period.year}"


def version_of(client, url: str) -> str:  # type: ignore[no-untyped-def]
    from tests.conftest import field_value

    return field_value(client.get(url), "version") or ""


def fill_section(client, establishment_id: int, period, code: str, values: dict[str, str]):  # type: ignore[no-untyped-def]
    url = f"{report_url(establishment_id, period)}/sections/{code}"
    return post_form(client, url, {"version": version_of(client, url), **values})


def fill_all(client, establishment_id: int, period) -> None:  # type: ignore[no-untyped-def]
    for code, values in COMPLETE.items():
        response = fill_section(client, establishment_id, period, code, values)
        assert response.status_code == 303, (code, response.text[:2000])


__all__ = ["date"]
