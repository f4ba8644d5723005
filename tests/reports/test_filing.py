"""Filing an annual report: start, sections, summary with problems, submission, receipt, history."""

from __future__ import annotations

import io

from pypdf import PdfReader
from sqlalchemy import func, select

from app.reports.models import AnnualReport, ReportSubmission
from tests.conftest import error_summary, field_error, field_value, flash_text, page, post_form
from tests.reports.conftest import COMPLETE, fill_all, fill_section, report_url


def _start(client, establishment_id, period):
    response = post_form(
        client,
        f"{report_url(establishment_id, period)}/start",
        {"from_previous": "no"},
        form_page=report_url(establishment_id, period),
    )
    assert response.status_code == 303
    return response


def test_operator_files_a_report_and_gets_a_receipt(
    client, db, mailbox, open_period, operator_with_establishment
):
    establishment_id = operator_with_establishment
    url = report_url(establishment_id, open_period)
    overview = page(client.get(url))
    assert "Start the report" in overview.get_text()
    _start(client, establishment_id, open_period)

    # Sections of a lodging include the entry control of minors.
    sections = [a.get_text(strip=True) for a in page(client.get(url)).select("tbody th a")]
    assert len(sections) == 7

    summary = client.get(f"{url}/summary")
    assert "Fix these before filing" in summary.text
    assert page(summary).find("form", action=f"{url}/submit") is None

    fill_all(client, establishment_id, open_period)
    summary = client.get(f"{url}/summary")
    assert "Fix these before filing" not in summary.text
    text = page(summary).get_text(" ", strip=True)
    assert "DIRCETUR Cusco" in text and "Reception, rooms" in text

    version = field_value(summary, "version")
    response = post_form(
        client, f"{url}/submit", {"version": version, "confirm": "yes"}, form_page=f"{url}/summary"
    )
    assert response.status_code == 303
    overview = client.get(url)
    assert "has been filed" in flash_text(overview)
    assert "Filed, waiting for review" in overview.text

    dashboard = page(client.get("/dashboard")).get_text(" ", strip=True)
    assert "Pending review" in dashboard

    submission = db.scalars(select(ReportSubmission)).one()
    assert submission.late is False
    assert len(submission.content_sha256) == 64
    receipt = client.get(f"{url}/submissions/1/receipt.pdf")
    assert receipt.headers["content-type"] == "application/pdf"
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(receipt.content)).pages)
    flat = " ".join(text.split())
    assert submission.content_sha256 in flat.replace(" ", "") or submission.content_sha256[
        :32
    ] in flat.replace(" ", "")
    assert "Hostal Ñusta" in flat and "DIRCETUR Cusco" in flat

    mail = mailbox.last_to("rosa@hostal.pe")
    assert str(open_period.year) in mail["Subject"]
    assert submission.content_sha256 in mailbox.body(mail)
    attachment = next(mail.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"

    # Filed: the sections are read-only now, and a second submit is refused.
    section = client.get(f"{url}/sections/policy")
    assert page(section).find("form", action=f"{url}/sections/policy") is None
    again = post_form(
        client, f"{url}/submit", {"version": version, "confirm": "yes"}, form_page=url
    )
    assert again.status_code == 400
    assert db.scalar(select(func.count()).select_from(ReportSubmission)) == 1


def test_bad_figures_are_explained_and_nothing_is_saved(
    client, db, open_period, operator_with_establishment
):
    establishment_id = operator_with_establishment
    _start(client, establishment_id, open_period)
    before = db.scalars(select(AnnualReport)).one().content
    bad = {**COMPLETE["training"], "fig-staff_total": "-3", "fig-staff_trained": "nine"}
    response = fill_section(client, establishment_id, open_period, "training", bad)
    assert response.status_code == 400
    assert "whole number" in field_error(response, "fig-staff_total")
    assert "whole number" in field_error(response, "fig-staff_trained")
    assert field_value(response, "fig-staff_trained") == "nine"
    assert field_value(response, "narrative") == bad["narrative"]
    assert page(response).title.get_text().startswith("Error:")
    db.expire_all()
    assert db.scalars(select(AnnualReport)).one().content == before


def test_trained_more_than_total_and_reported_more_than_detected(
    client, open_period, operator_with_establishment
):
    establishment_id = operator_with_establishment
    _start(client, establishment_id, open_period)
    response = fill_section(
        client,
        establishment_id,
        open_period,
        "training",
        {**COMPLETE["training"], "fig-staff_total": "5", "fig-staff_trained": "6"},
    )
    assert response.status_code == 400
    assert "cannot be more than the total" in field_error(response, "fig-staff_trained")
    response = fill_section(
        client,
        establishment_id,
        open_period,
        "reporting",
        {**COMPLETE["reporting"], "fig-cases_detected": "1", "fig-cases_reported": "2"},
    )
    assert "cannot be more than cases detected" in field_error(response, "fig-cases_reported")


def test_a_draft_can_be_incomplete_and_the_summary_says_what_is_missing(
    client, open_period, operator_with_establishment
):
    establishment_id = operator_with_establishment
    _start(client, establishment_id, open_period)
    response = fill_section(
        client, establishment_id, open_period, "policy", {"status": "done", "fig-adopted": "yes"}
    )
    assert response.status_code == 303
    summary = page(client.get(f"{report_url(establishment_id, open_period)}/summary")).get_text(
        " ", strip=True
    )
    assert "Describe briefly what was done" in summary
    assert "Answer: Date it was adopted" in summary


def test_two_people_saving_the_same_report(client, open_period, operator_with_establishment):
    establishment_id = operator_with_establishment
    _start(client, establishment_id, open_period)
    url = f"{report_url(establishment_id, open_period)}/sections/policy"
    old_version = field_value(client.get(url), "version")
    first = post_form(client, url, {"version": old_version, **COMPLETE["policy"]})
    assert first.status_code == 303
    second = post_form(
        client,
        url,
        {"version": old_version, **COMPLETE["policy"], "narrative": "Someone else's text"},
    )
    assert second.status_code == 409
    assert "changed since you opened it" in " ".join(error_summary(second))
    assert field_value(second, "narrative") == COMPLETE["policy"]["narrative"]


def test_narrative_with_an_identity_number_is_refused(
    client, open_period, operator_with_establishment
):
    establishment_id = operator_with_establishment
    _start(client, establishment_id, open_period)
    response = fill_section(
        client,
        establishment_id,
        open_period,
        "reporting",
        {**COMPLETE["reporting"], "narrative": "The girl with DNI 71234567 was found"},
    )
    assert response.status_code == 400
    assert "identify a child" in field_error(response, "narrative")
