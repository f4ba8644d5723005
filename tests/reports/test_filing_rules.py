"""The rules around filing: late, closed, not obliged, double clicks, resubmission, last year's answers."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from app.auth.models import User
from app.clock import today
from app.reports import service
from app.reports.models import AnnualReport, Evidence, ReportingPeriod, ReportSubmission
from tests import factories
from tests.conftest import (
    SIGNATURE,
    add_establishment,
    csrf_of,
    error_summary,
    field_value,
    flash_text,
    page,
    post_form,
)
from tests.reports.conftest import COMPLETE, fill_all, report_url


def _started(client, establishment_id, period):
    url = report_url(establishment_id, period)
    post_form(client, f"{url}/start", {"from_previous": "no"}, form_page=url)
    return url


def _submit(client, url):
    summary = client.get(f"{url}/summary")
    return post_form(
        client,
        f"{url}/submit",
        {"version": field_value(summary, "version") or "", "confirm": "yes"},
        form_page=f"{url}/summary",
    )


def _submissions(db) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(ReportSubmission))


def test_a_report_filed_after_the_deadline_is_accepted_and_marked_late(
    client, db, open_period, operator_with_establishment
):
    url = _started(client, operator_with_establishment, open_period)
    fill_all(client, operator_with_establishment, open_period)
    period = db.get(ReportingPeriod, open_period.id)
    period.deadline = today() - timedelta(days=1)
    db.commit()
    summary = client.get(f"{url}/summary")
    assert "marked as late" in summary.text
    assert _submit(client, url).status_code == 303
    assert db.scalars(select(ReportSubmission)).one().late is True
    overview = page(client.get(url)).get_text(" ", strip=True)
    assert "Late" in overview


def test_a_closed_period_refuses_filing(client, db, open_period, operator_with_establishment):
    url = _started(client, operator_with_establishment, open_period)
    fill_all(client, operator_with_establishment, open_period)
    version = field_value(client.get(f"{url}/summary"), "version")
    service.set_period_closed(
        db_session=db, period=db.get(ReportingPeriod, open_period.id), closed=True
    )
    db.commit()
    response = post_form(
        client, f"{url}/submit", {"version": version, "confirm": "yes"}, form_page=url
    )
    assert response.status_code == 400
    assert "closed by the ministry" in " ".join(error_summary(response))
    assert _submissions(db) == 0


def test_a_closed_period_takes_no_more_answers_or_files(
    app, client, db, open_period, operator_with_establishment
):
    """Closed on the server, not only on the page: a saved form, an upload and a removal posted
    after the ministry closed the period change nothing, and what was typed is shown again."""
    operator = db.scalars(select(User).where(User.email == "rosa@hostal.pe")).one()
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    started = factories.report(
        app,
        db,
        operator,
        operator_with_establishment,
        open_period,
        evidence={"policy": ("a.pdf", pdf)},
    )
    evidence_id = db.scalars(select(Evidence.id)).one()
    url = report_url(operator_with_establishment, open_period)
    version = field_value(client.get(f"{url}/sections/policy"), "version")
    service.set_period_closed(
        db_session=db, period=db.get(ReportingPeriod, open_period.id), closed=True
    )
    db.commit()

    saved = post_form(
        client, f"{url}/sections/policy", {"version": version, **COMPLETE["policy"]}, form_page="/"
    )
    assert saved.status_code == 400
    assert "closed by the ministry" in " ".join(error_summary(saved))
    assert field_value(saved, "narrative") == COMPLETE["policy"]["narrative"]
    uploaded = client.post(
        f"{url}/sections/policy/evidence",
        data={"csrf_token": csrf_of(client, "/")},
        files={"file": ("b.pdf", pdf, "application/pdf")},
    )
    assert uploaded.status_code == 400
    assert "closed by the ministry" in " ".join(error_summary(uploaded))
    removed = post_form(client, f"{url}/evidence/{evidence_id}/remove", {}, form_page="/")
    assert removed.status_code == 303
    assert "closed by the ministry" in flash_text(client.get(removed.headers["location"]))

    db.expire_all()
    assert db.get(AnnualReport, started.id).content["sections"]["policy"]["narrative"] is None
    evidence = db.scalars(select(Evidence)).all()
    assert [(e.id, e.removed_at) for e in evidence] == [(evidence_id, None)]


def test_an_establishment_that_signed_after_the_cut_off_does_not_file(
    client, db, open_period, operator_with_establishment
):
    period = db.get(ReportingPeriod, open_period.id)
    period.cutoff_on = today() - timedelta(days=1)
    db.commit()
    url = report_url(operator_with_establishment, open_period)
    overview = page(client.get(url)).get_text(" ", strip=True)
    assert "does not have to file a report" in overview
    response = post_form(client, f"{url}/start", {"from_previous": "no"}, form_page=url)
    assert response.status_code == 400
    assert "does not have to file" in " ".join(error_summary(response))
    assert db.scalar(select(func.count()).select_from(AnnualReport)) == 0


def test_an_unsigned_establishment_has_nothing_to_file(
    client, db, open_period, operator_with_establishment
):
    unsigned = add_establishment(client, branch_code="0001", trade_name="Sin firmar")
    url = report_url(unsigned, open_period)
    response = post_form(client, f"{url}/start", {"from_previous": "no"}, form_page=url)
    assert response.status_code == 400
    assert db.scalar(select(func.count()).select_from(AnnualReport)) == 0


def test_a_double_click_on_file_makes_one_submission(
    client, db, open_period, operator_with_establishment
):
    url = _started(client, operator_with_establishment, open_period)
    fill_all(client, operator_with_establishment, open_period)
    version = field_value(client.get(f"{url}/summary"), "version")
    token = csrf_of(client, f"{url}/summary")
    first = client.post(
        f"{url}/submit", data={"csrf_token": token, "version": version, "confirm": "yes"}
    )
    second = client.post(
        f"{url}/submit", data={"csrf_token": token, "version": version, "confirm": "yes"}
    )
    assert first.status_code == 303
    assert second.status_code == 400
    assert "already been filed" in " ".join(error_summary(second))
    assert _submissions(db) == 1


def test_confirmation_is_required_to_file(client, db, open_period, operator_with_establishment):
    url = _started(client, operator_with_establishment, open_period)
    fill_all(client, operator_with_establishment, open_period)
    version = field_value(client.get(f"{url}/summary"), "version")
    response = post_form(client, f"{url}/submit", {"version": version}, form_page=f"{url}/summary")
    assert response.status_code == 400
    assert _submissions(db) == 0


def test_changes_requested_then_resubmitted_keeps_both_versions(
    client, db, open_period, operator_with_establishment
):
    url = _started(client, operator_with_establishment, open_period)
    fill_all(client, operator_with_establishment, open_period)
    assert _submit(client, url).status_code == 303
    report = db.scalars(select(AnnualReport)).one()
    report.state = "changes_requested"  # what a reviewer's decision does
    db.commit()
    section = f"{url}/sections/training"
    response = post_form(
        client,
        section,
        {
            **COMPLETE["training"],
            "version": field_value(client.get(section), "version"),
            "fig-staff_trained": "12",
        },
    )
    assert response.status_code == 303
    assert _submit(client, url).status_code == 303
    db.expire_all()
    assert db.scalars(select(AnnualReport)).one().state == "resubmitted"
    first, second = db.scalars(select(ReportSubmission).order_by(ReportSubmission.number)).all()
    assert first.content["sections"]["training"]["figures"]["staff_trained"] == 9
    assert second.content["sections"]["training"]["figures"]["staff_trained"] == 12
    assert first.content_sha256 != second.content_sha256
    history = page(client.get(url)).get_text(" ", strip=True)
    assert "Submission 1" in history and "Submission 2" in history


def test_next_report_starts_from_last_years(client, db, open_period, operator_with_establishment):
    _started(client, operator_with_establishment, open_period)
    fill_all(client, operator_with_establishment, open_period)
    now = today()
    next_period = service.create_period(
        db_session=db,
        data=service.PeriodInput(
            year=open_period.year + 1,
            opens_on=now - timedelta(days=1),
            deadline=now + timedelta(days=40),
            cutoff_on=now,
        ),
    )
    db.commit()
    next_url = report_url(operator_with_establishment, next_period)
    assert "Start from last year" in client.get(next_url).text
    post_form(client, f"{next_url}/start", {"from_previous": "yes"}, form_page=next_url)
    policy = client.get(f"{next_url}/sections/policy")
    assert field_value(policy, "fig-published_where") == "Reception and web site"
    training = client.get(f"{next_url}/sections/training")
    assert field_value(training, "fig-staff_total") == "12"
    assert field_value(training, "fig-staff_trained") == ""  # a figure of the year starts empty


def test_a_chain_sees_every_establishment_and_report_in_one_table(
    client, db, open_period, operator_with_establishment
):
    second = add_establishment(client, branch_code="0001", trade_name="Hostal Ñusta II")
    post_form(client, f"/establishments/{second}/sign", SIGNATURE)
    _started(client, operator_with_establishment, open_period)
    table = page(client.get("/reports"))
    rows = {
        r.th.get_text(" ", strip=True): r.get_text(" ", strip=True)
        for r in table.select("tbody tr")
    }
    assert any("Hostal Ñusta II" in k and "Not started" in v for k, v in rows.items())
    assert any("Hostal Ñusta II" not in k and "Draft" in v for k, v in rows.items())
