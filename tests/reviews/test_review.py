"""Reviewing filed reports through the pages: the queue, one report, assignment and decisions,
what the operator reads afterwards, and two reviewers deciding at the same moment."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import Session

from app import i18n
from app.audit.models import AuditEntry
from app.auth.models import User
from app.auth.service import get_user_by_email
from app.errors import DomainError
from app.i18n import use_locale
from app.reports.models import AnnualReport, ReportSubmission
from app.reviews import service
from app.reviews.models import ReviewDecision
from tests import factories
from tests.conftest import (
    csrf_of,
    error_summary,
    field_error,
    field_value,
    flash_text,
    make_user,
    page,
    post_form,
    sign_in,
)
from tests.reports.conftest import COMPLETE, fill_all, fill_section, report_url
from tests.reports.files import png

OPERATOR = "rosa@hostal.pe"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = png()
CHANGES = {
    "decision": "changes_requested",
    "comment": "Complete the training section.",
    "section-training": "Say how many of the 12 people were trained and attach the attendance list.",
}


# --- filing, as the operator does it ---------------------------------------------------------------


def start_report(client: TestClient, establishment_id: int, period) -> None:  # type: ignore[no-untyped-def]
    url = report_url(establishment_id, period)
    response = post_form(client, f"{url}/start", {"from_previous": "no"}, form_page=url)
    assert response.status_code == 303, error_summary(response)


def file_report(client: TestClient, establishment_id: int, period) -> None:  # type: ignore[no-untyped-def]
    url = report_url(establishment_id, period)
    summary = client.get(f"{url}/summary")
    response = post_form(
        client,
        f"{url}/submit",
        {"version": field_value(summary, "version") or "", "confirm": "yes"},
        form_page=f"{url}/summary",
    )
    assert response.status_code == 303, error_summary(response)


def filed_report(app, db, establishment_id: int, period) -> int:  # type: ignore[no-untyped-def]
    """The operator's establishment's report, answered in full and filed; returns the report id."""
    operator = get_user_by_email(db_session=db, email=OPERATOR)
    assert operator is not None
    started = factories.report(app, db, operator, establishment_id, period, COMPLETE)
    return factories.submission(db, operator, started).report_id


def signed_lodging(db, **overrides: str) -> int:  # type: ignore[no-untyped-def]
    """Another establishment of the operator's (tests.conftest.establishment_form), signed."""
    operator = get_user_by_email(db_session=db, email=OPERATOR)
    assert operator is not None
    establishment_id = factories.establishment(db, operator, **overrides)
    factories.signature(db, operator, establishment_id)
    return establishment_id


@pytest.fixture
def operator_with_establishment(client, db):  # type: ignore[no-untyped-def]
    """Signed in as an operator whose lodging in Cusco has signed the Code (as in tests/reports)."""
    return factories.operator_with_signed_establishment(client, db, OPERATOR)


@pytest.fixture
def filed(app, client, db, open_period, operator_with_establishment):  # type: ignore[no-untyped-def]
    """The operator's lodging in Cusco has filed its report (submission 1)."""
    establishment_id = operator_with_establishment
    report_id = filed_report(app, db, establishment_id, open_period)
    return {
        "establishment_id": establishment_id,
        "report_id": report_id,
        "period": open_period,
        "review": f"/review/reports/{report_id}",
        "overview": report_url(establishment_id, open_period),
    }


# --- staff, each in their own browser ---------------------------------------------------------------


@pytest.fixture
def staff(app, db):  # type: ignore[no-untyped-def]
    """Make a staff account and a browser signed in with it, reading English pages."""
    clients: list[TestClient] = []

    def signed_in(
        email: str, role: str = "reviewer", regions: tuple[str, ...] = ("PE-CUS",)
    ) -> TestClient:
        make_user(db, email, role=role, regions=regions if role == "reviewer" else ())
        browser = TestClient(app, follow_redirects=False)
        clients.append(browser)
        sign_in(browser, email)
        post_form(browser, "/language", {"lang": "en", "next": "/"}, form_page="/")
        return browser

    yield signed_in
    for browser in clients:
        browser.close()


@pytest.fixture
def reviewer(staff):  # type: ignore[no-untyped-def]
    return staff("quispe@dircetur-cusco.gob.pe")


def decide(browser: TestClient, review_url: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
    """Post the decision form as the page shows it: with the submission number it was showing."""
    shown = browser.get(review_url)
    assert shown.status_code == 200, shown.status_code
    fields = {"submission": field_value(shown, "submission") or "", **data}
    return post_form(browser, review_url, fields)


def state_of(db, report_id: int) -> str:  # type: ignore[no-untyped-def]
    db.expire_all()
    return db.get(AnnualReport, report_id).state


def decisions(db) -> list[ReviewDecision]:  # type: ignore[no-untyped-def]
    db.expire_all()
    return list(db.scalars(select(ReviewDecision).order_by(ReviewDecision.id)))


def audit_actions(db) -> list[str]:  # type: ignore[no-untyped-def]
    """What the audit log says was done to reports."""
    db.expire_all()
    return list(
        db.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.object_type == "annual_report")
            .order_by(AuditEntry.id)
        )
    )


def queue_rows(response) -> list[list[str]]:  # type: ignore[no-untyped-def]
    return [
        [cell.get_text(" ", strip=True) for cell in row.find_all(["th", "td"])]
        for row in page(response).select("main table tbody tr")
    ]


def counts(response) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {
        node["data-state"]: int(node.get_text(strip=True))
        for node in page(response).select("main [data-state]")
    }


def section_card(response, code: str):  # type: ignore[no-untyped-def]
    card = page(response).find(id=f"section-{code}")
    assert card is not None, f"no section {code} on the page"
    return card


# --- who may review ----------------------------------------------------------------------------------


def test_only_reviewers_reach_the_review_pages(client, app, db, filed, staff):
    # The operator who filed it: forbidden, and nothing changes.
    assert client.get("/review").status_code == 403
    assert client.get(filed["review"]).status_code == 403
    token = csrf_of(client, filed["overview"])
    for action in ("", "/assign", "/release"):
        response = client.post(
            filed["review"] + action,
            data={"csrf_token": token, "decision": "approved", "submission": "1"},
        )
        assert response.status_code == 403
    admin = staff("admin@mincetur.gob.pe", role="admin")
    assert admin.get("/review").status_code == 403
    assert admin.get(filed["review"]).status_code == 403
    assert state_of(db, filed["report_id"]) == "submitted"

    with TestClient(app, follow_redirects=False) as visitor:
        response = visitor.get(filed["review"])
        assert response.status_code == 303
        assert response.headers["location"].startswith("/account/login?next=")

    national = staff("ministerio@mincetur.gob.pe", role="national_reviewer")
    assert national.get(filed["review"]).status_code == 200
    nav = page(national.get("/review")).select("header nav a[href='/review']")
    assert [a.get_text(strip=True) for a in nav] == ["Review"]
    assert not page(client.get("/reports")).select("header nav a[href='/review']")


# --- the report page ----------------------------------------------------------------------------------


def test_the_review_page_shows_the_latest_submission_its_evidence_and_the_decision_form(
    client, db, open_period, operator_with_establishment, reviewer, staff
):
    establishment_id = operator_with_establishment
    url = report_url(establishment_id, open_period)
    start_report(client, establishment_id, open_period)
    for name, data, kind in (
        ("politica.pdf", PDF, "application/pdf"),
        ("afiche.png", PNG, "image/png"),
    ):
        response = client.post(
            f"{url}/sections/policy/evidence",
            data={"csrf_token": csrf_of(client, f"{url}/sections/policy")},
            files={"file": (name, data, kind)},
        )
        assert response.status_code == 303, error_summary(response)
    fill_all(client, establishment_id, open_period)
    file_report(client, establishment_id, open_period)
    report_id = db.scalars(select(AnnualReport.id)).one()

    response = reviewer.get(f"/review/reports/{report_id}")
    assert response.status_code == 200
    text = page(response).get_text(" ", strip=True)
    assert "Hostal Ñusta" in text and "Submission 1" in text
    assert "Filed, waiting for review" in text
    # Every section with its answers, as filed.
    assert len(page(response).select("main section.card[id^=section-]")) == len(COMPLETE)
    training = section_card(response, "training").get_text(" ", strip=True)
    assert (
        "DIRCETUR Cusco" in training and "Two sessions with the regional directorate." in training
    )
    # Evidence: links that open in the browser, pictures shown small.
    policy = section_card(response, "policy")
    links = {a.get_text(" ", strip=True).split(" (")[0]: a["href"] for a in policy.select("li > a")}
    assert set(links) == {"politica.pdf", "afiche.png"}
    image = policy.find("img")
    assert image["alt"] == "afiche.png" and image["src"] == links["afiche.png"]
    shown = reviewer.get(image["src"])
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/png"
    assert shown.headers["content-disposition"].startswith("inline")
    assert reviewer.get(links["politica.pdf"]).headers["content-type"] == "application/pdf"
    # The form: a comment box per section, the decision, the reason, the submission it is about.
    assert field_value(response, "submission") == "1"
    for code in COMPLETE:
        assert page(response).find("textarea", attrs={"name": f"section-{code}"}) is not None
    decisions_offered = [i["value"] for i in page(response).select("input[name=decision]")]
    assert decisions_offered == ["approved", "changes_requested", "rejected"]
    reasons = [o["value"] for o in page(response).select("select[name=reason] option")]
    assert reasons == ["", *service.REJECTION_REASONS]
    assert "no report for another year" in text

    # A reviewer of another region cannot see the files either.
    lima = staff("lima@dircetur.gob.pe", regions=("PE-LIM",))
    assert lima.get(links["afiche.png"]).status_code == 404


# --- every decision on a filed report ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "subject", "overview_text"),
    [
        ({"decision": "approved", "comment": "Everything is in order."}, "approved", "Approved"),
        (CHANGES, "changes requested", "Changes requested"),
        (
            {
                "decision": "rejected",
                "reason": "no_evidence",
                "comment": "No evidence of training.",
            },
            "rejected",
            "Rejected",
        ),
    ],
    ids=["approve", "request-changes", "reject"],
)
def test_each_decision_on_a_filed_report(
    client, db, mailbox, filed, reviewer, data, subject, overview_text
):
    response = decide(reviewer, filed["review"], data)
    assert response.status_code == 303, error_summary(response)
    assert response.headers["location"] == "/review"
    assert "The operator has been told by e-mail" in flash_text(reviewer.get("/review"))

    assert state_of(db, filed["report_id"]) == data["decision"]
    (decision,) = decisions(db)
    assert decision.decision == data["decision"]
    assert decision.comment == data["comment"]
    assert decision.reason == data.get("reason")
    reviewer_id = db.scalars(
        select(User.id).where(User.email == "quispe@dircetur-cusco.gob.pe")
    ).one()
    assert decision.reviewer_id == reviewer_id
    entry = db.scalars(
        select(AuditEntry).where(AuditEntry.action == f"report.{data['decision']}")
    ).one()
    assert entry.actor_email == "quispe@dircetur-cusco.gob.pe"
    assert entry.object_id == str(filed["report_id"]) and entry.region == "PE-CUS"
    assert entry.before == {"state": "submitted"}
    assert entry.after["state"] == data["decision"]

    # The decision mail (an approval is followed by the certificate's own mail).
    mail = next(m for m in reversed(mailbox.to(OPERATOR)) if subject in m["Subject"])
    assert subject in mail["Subject"] and str(filed["period"].year) in mail["Subject"]
    body = mailbox.body(mail)
    assert data["comment"] in body
    if data["decision"] == "rejected":
        # In the operator's own language (they chose English), whatever the reviewer's.
        with use_locale("en"):
            assert str(service.REJECTION_REASONS["no_evidence"]) in body

    # The operator reads the decision and the reviewer's comment at the top of the report.
    overview = client.get(filed["overview"])
    box = page(overview).find(id="review-comment")
    assert box is not None
    assert overview_text in box.get_text(" ", strip=True)
    assert data["comment"] in box.get_text(" ", strip=True)
    tag = page(overview).select_one("main .summary-list .tag")
    assert tag.get_text(strip=True) == overview_text

    # Decided: out of the waiting queue, and a second decision on it is refused.
    assert filed["review"] not in {
        a["href"] for a in page(reviewer.get("/review")).select("tbody a")
    }
    assert page(reviewer.get(filed["review"])).find("input", attrs={"name": "decision"}) is None
    again = post_form(
        reviewer,
        filed["review"],
        {"submission": "1", "decision": "approved", "comment": "Approving after all."},
    )
    assert again.status_code == 400
    assert any("not waiting for a decision" in m for m in error_summary(again))
    assert len(decisions(db)) == 1
    assert state_of(db, filed["report_id"]) == data["decision"]


# --- decisions refused ---------------------------------------------------------------------------------


def test_no_decision_chosen_is_refused(db, filed, reviewer):
    response = decide(reviewer, filed["review"], {"comment": "Looks fine."})
    assert response.status_code == 400
    assert field_error(response, "decision") == "Choose a decision"
    assert field_value(response, "comment") == "Looks fine."
    assert state_of(db, filed["report_id"]) == "submitted" and decisions(db) == []


def test_asking_for_changes_needs_a_comment_and_a_comment_on_a_section(
    db, mailbox, filed, reviewer
):
    receipts = len(mailbox.to(OPERATOR))

    no_comment = decide(reviewer, filed["review"], {**CHANGES, "comment": ""})
    assert no_comment.status_code == 400
    assert page(no_comment).title.get_text().startswith("Error:")
    assert error_summary(no_comment) == ["Say what the operator has to change"]
    assert field_error(no_comment, "comment") == "Say what the operator has to change"
    # Everything typed is still there.
    assert field_value(no_comment, "section-training") == CHANGES["section-training"]
    assert page(no_comment).find("input", attrs={"name": "decision", "checked": True})["value"] == (
        "changes_requested"
    )

    no_section = decide(
        reviewer, filed["review"], {**CHANGES, "section-training": "   ", "section-policy": ""}
    )
    assert no_section.status_code == 400
    message = "Write a comment on at least one section, beside what has to change"
    assert error_summary(no_section) == [message]
    link = page(no_section).select_one(".error-summary__list a")["href"]
    assert page(no_section).find(id=link.lstrip("#")) is not None, (
        "the summary links to the sections"
    )
    assert field_error(no_section, "section_comments") == message
    assert field_value(no_section, "comment") == CHANGES["comment"]

    assert state_of(db, filed["report_id"]) == "submitted"
    assert decisions(db) == []
    assert audit_actions(db) == []
    assert len(mailbox.to(OPERATOR)) == receipts


def test_rejecting_needs_a_reason_and_an_explanation(client, db, filed, reviewer):
    no_reason = decide(
        reviewer, filed["review"], {"decision": "rejected", "comment": "False data."}
    )
    assert no_reason.status_code == 400
    assert field_error(no_reason, "reason") == "Choose the reason for rejecting the report"
    assert field_value(no_reason, "comment") == "False data."

    no_comment = decide(reviewer, filed["review"], {"decision": "rejected", "reason": "other"})
    assert no_comment.status_code == 400
    assert field_error(no_comment, "comment") == "Explain the rejection in the comment"
    assert field_value(no_comment, "reason") == "other"
    assert state_of(db, filed["report_id"]) == "submitted" and decisions(db) == []

    done = decide(
        reviewer,
        filed["review"],
        {"decision": "rejected", "reason": "false_information", "comment": "False data."},
    )
    assert done.status_code == 303
    overview = page(client.get(filed["overview"])).find(id="review-comment")
    with use_locale("en"):
        reason = str(service.REJECTION_REASONS["false_information"])
    assert reason in overview.get_text(" ", strip=True)


def test_a_reason_chosen_for_an_approval_is_not_kept(db, filed, reviewer):
    response = decide(reviewer, filed["review"], {"decision": "approved", "reason": "other"})
    assert response.status_code == 303
    assert decisions(db)[0].reason is None


def test_a_form_without_this_sessions_token_decides_nothing(db, filed, reviewer):
    response = reviewer.post(
        filed["review"], data={"decision": "approved", "submission": "1", "csrf_token": "x"}
    )
    assert response.status_code == 400
    assert "expired" in " ".join(error_summary(response))
    assert state_of(db, filed["report_id"]) == "submitted" and decisions(db) == []


def test_a_report_never_filed_cannot_be_reviewed(
    client, db, open_period, operator_with_establishment, reviewer
):
    start_report(client, operator_with_establishment, open_period)
    fill_all(client, operator_with_establishment, open_period)
    report_id = db.scalars(select(AnnualReport.id)).one()
    url = f"/review/reports/{report_id}"

    assert reviewer.get(url).status_code == 404
    token = csrf_of(reviewer, "/review")
    for action in ("", "/assign"):
        response = reviewer.post(
            url + action, data={"csrf_token": token, "decision": "approved", "submission": "1"}
        )
        assert response.status_code == 404
    queue = reviewer.get("/review?state=submitted")
    assert queue_rows(queue) == [] and sum(counts(queue).values()) == 0
    assert state_of(db, report_id) == "draft"
    assert decisions(db) == [] and audit_actions(db) == []
    assert reviewer.get("/review/reports/999999").status_code == 404
    assert reviewer.get("/review/reports/abc").status_code == 404


# --- the whole cycle ------------------------------------------------------------------------------------


def test_changes_requested_amended_resubmitted_then_approved(client, db, mailbox, filed, reviewer):
    response = decide(reviewer, filed["review"], CHANGES)
    assert response.status_code == 303, error_summary(response)
    assert state_of(db, filed["report_id"]) == "changes_requested"
    assert "changes requested" in mailbox.last_to(OPERATOR)["Subject"]

    # The operator reads the general comment at the top, and the section's comment beside it.
    overview = client.get(filed["overview"])
    assert CHANGES["comment"] in page(overview).find(id="review-comment").get_text()
    rows = {
        row.th.a["href"].rsplit("/", 1)[1]: row
        for row in page(overview).select("main table tbody tr")
    }
    assert CHANGES["section-training"] in rows["training"].get_text(" ", strip=True)
    assert rows["policy"].select(".review-comment") == []
    section = client.get(f"{filed['overview']}/sections/training")
    assert CHANGES["section-training"] in page(section).find(id="review-comment").get_text()
    assert (
        page(client.get(f"{filed['overview']}/sections/policy")).find(id="review-comment") is None
    )

    # The operator amends the section and files again.
    amended = {**COMPLETE["training"], "status": "done", "fig-staff_trained": "12"}
    assert (
        fill_section(
            client, filed["establishment_id"], filed["period"], "training", amended
        ).status_code
        == 303
    )
    file_report(client, filed["establishment_id"], filed["period"])
    assert state_of(db, filed["report_id"]) == "resubmitted"
    assert page(client.get(filed["overview"])).find(id="review-comment") is None

    # Back in the queue as submission 2, with what changed marked.
    queue = reviewer.get("/review")
    (row,) = queue_rows(queue)
    assert row[0].startswith("Hostal Ñusta") and row[5] == "2"
    assert "Filed again, waiting for review" in row[7]
    review = reviewer.get(filed["review"])
    assert field_value(review, "submission") == "2"
    training = section_card(review, "training").get_text(" ", strip=True)
    assert "Changed since submission 1: Status, Staff trained this year" in training
    assert CHANGES["section-training"] in training  # the earlier comment, beside the section
    assert "Not changed since submission 1" in section_card(review, "policy").get_text(
        " ", strip=True
    )
    history = page(review).find(id="submission-1").get_text(" ", strip=True)
    assert "Changes requested" in history and CHANGES["comment"] in history
    assert "quispe@dircetur-cusco.gob.pe" in history
    latest = page(review).find(id="submission-2").get_text(" ", strip=True)
    assert "Changed from the submission before" in latest and "Status" in latest

    # A tab still showing submission 1 cannot decide on it.
    stale = post_form(
        reviewer, filed["review"], {"submission": "1", "decision": "approved", "comment": ""}
    )
    assert stale.status_code == 400
    assert error_summary(stale) == [
        "The operator filed a newer version of this report: review that one"
    ]
    assert state_of(db, filed["report_id"]) == "resubmitted"

    approved = decide(reviewer, filed["review"], {"decision": "approved", "comment": "Thank you."})
    assert approved.status_code == 303
    assert state_of(db, filed["report_id"]) == "approved"
    assert [d.decision for d in decisions(db)] == ["changes_requested", "approved"]
    submissions = dict(db.execute(select(ReportSubmission.id, ReportSubmission.number)).all())
    assert [submissions[d.submission_id] for d in decisions(db)] == [1, 2]
    assert any("approved" in m["Subject"] for m in mailbox.to(OPERATOR))
    assert "Certificate of compliance" in mailbox.last_to(OPERATOR)["Subject"]
    overview = page(client.get(filed["overview"]))
    assert overview.select_one("main .summary-list .tag")["class"] == ["tag", "tag--good"]
    assert "Thank you." in overview.find(id="review-comment").get_text()
    assert audit_actions(db) == ["report.changes_requested", "report.approved"]


# --- the queue ------------------------------------------------------------------------------------------


def test_queue_counts_filters_and_pages(
    app, db, open_period, operator_with_establishment, reviewer, staff, monkeypatch
):
    nusta = operator_with_establishment
    tambo = signed_lodging(db, branch_code="0001", trade_name="Hostal Tambo")
    selva = signed_lodging(
        db,
        branch_code="0002",
        trade_name="Lodge Tambopata",
        region="PE-MDD",
        province="Tambopata",
        district="Tambopata",
    )
    ids = {
        name: filed_report(app, db, establishment_id, open_period)
        for name, establishment_id in (("nusta", nusta), ("tambo", tambo), ("selva", selva))
    }
    assert (
        decide(reviewer, f"/review/reports/{ids['tambo']}", {"decision": "approved"}).status_code
        == 303
    )

    def names(response) -> list[str]:  # type: ignore[no-untyped-def]
        return [row[0].split(" Inversiones")[0] for row in queue_rows(response)]

    # By default: what waits for a decision in the reviewer's region, with the count of each state.
    waiting = reviewer.get("/review")
    assert names(waiting) == ["Hostal Ñusta"]
    assert counts(waiting) == {
        "waiting": 1,
        "submitted": 1,
        "resubmitted": 0,
        "changes_requested": 0,
        "approved": 1,
        "rejected": 0,
    }
    (row,) = queue_rows(waiting)
    assert row[1].endswith("-0000") and row[2] == "Cusco" and row[3] == "Lodging establishment"
    assert row[4] == str(open_period.year) and row[5] == "1"
    assert "Late" not in row[6] and row[7] == "Filed, waiting for review" and row[8] == "–"

    assert names(reviewer.get("/review?state=approved")) == ["Hostal Tambo"]
    assert names(reviewer.get("/review?state=approved&q=tambo")) == ["Hostal Tambo"]
    assert names(reviewer.get("/review?state=approved&q=lodge")) == []
    assert names(reviewer.get("/review?q=20604")) == ["Hostal Ñusta"]
    assert names(reviewer.get("/review?late=no")) == ["Hostal Ñusta"]
    assert names(reviewer.get("/review?late=yes")) == []
    assert names(reviewer.get(f"/review?year={open_period.year}")) == ["Hostal Ñusta"]
    assert names(reviewer.get(f"/review?year={open_period.year - 1}")) == []
    assert names(reviewer.get("/review?category=restaurant")) == []
    assert names(reviewer.get("/review?mine=yes")) == []
    assert names(reviewer.get("/review?state=nonsense")) == ["Hostal Ñusta"]

    # The filters stay in the form, so the page can be bookmarked and read again.
    filtered = reviewer.get("/review?state=approved&q=tambo&late=no")
    assert field_value(filtered, "q") == "tambo"
    assert field_value(filtered, "state") == "approved"
    assert field_value(filtered, "late") == "no"
    # The reviewer's own regions only, in the region filter.
    regions = [o["value"] for o in page(filtered).select("select[name=region] option")]
    assert regions == ["", "PE-CUS"]

    # Another region, even typed into the address, shows nothing and counts nothing.
    elsewhere = reviewer.get("/review?region=PE-MDD")
    assert names(elsewhere) == [] and sum(counts(elsewhere).values()) == 0

    # "Assigned to me".
    token = csrf_of(reviewer, f"/review/reports/{ids['nusta']}")
    reviewer.post(f"/review/reports/{ids['nusta']}/assign", data={"csrf_token": token})
    mine = reviewer.get("/review?mine=yes")
    assert names(mine) == ["Hostal Ñusta"]
    assert queue_rows(mine)[0][8] == "quispe@dircetur-cusco.gob.pe"

    # A national reviewer sees every region, oldest filing first, a page at a time.
    national = staff("ministerio@mincetur.gob.pe", role="national_reviewer")
    everything = national.get("/review")
    assert names(everything) == ["Hostal Ñusta", "Lodge Tambopata"]
    assert len(page(everything).select("select[name=region] option")) == 27
    monkeypatch.setattr("app.reviews.views.PER_PAGE", 1)
    first = national.get("/review?late=no")
    assert names(first) == ["Hostal Ñusta"]
    next_link = page(first).select_one(".pagination a[rel=next]")["href"]
    assert "late=no" in next_link and "page=2" in next_link
    assert names(national.get(next_link)) == ["Lodge Tambopata"]


def test_a_reviewer_of_another_region_sees_nothing_of_the_report(db, filed, reviewer, staff):
    lima = staff("lima@dircetur.gob.pe", regions=("PE-LIM",))
    assert lima.get(filed["review"]).status_code == 404
    queue = lima.get("/review")
    assert queue_rows(queue) == [] and sum(counts(queue).values()) == 0
    assert sum(counts(lima.get("/review?region=PE-CUS")).values()) == 0
    token = csrf_of(lima, "/review")
    for action in ("", "/assign", "/release"):
        response = lima.post(
            filed["review"] + action,
            data={"csrf_token": token, **CHANGES, "submission": "1"},
        )
        assert response.status_code == 404
        assert "Hostal Ñusta" not in response.text
    assert state_of(db, filed["report_id"]) == "submitted"
    assert decisions(db) == [] and audit_actions(db) == []
    # The Cusco reviewer's queue has it.
    assert queue_rows(reviewer.get("/review"))


# --- assignment -------------------------------------------------------------------------------------------


def test_a_report_assigned_to_one_reviewer_cannot_be_taken_by_another(db, filed, reviewer, staff):
    colleague = staff("mamani@dircetur-cusco.gob.pe")
    url = filed["review"]

    response = post_form(reviewer, f"{url}/assign", {}, form_page=url)
    assert response.status_code == 303 and response.headers["location"] == url
    shown = reviewer.get(url)
    assert "assigned to you" in flash_text(shown)
    assert page(shown).find(id="assigned-to").get_text(strip=True) == (
        "quispe@dircetur-cusco.gob.pe (you)"
    )
    assert page(shown).find("form", action=f"{url}/release") is not None

    theirs = colleague.get(url)
    assert page(theirs).find(id="assigned-to").get_text(strip=True) == (
        "quispe@dircetur-cusco.gob.pe"
    )
    refused = colleague.post(f"{url}/assign", data={"csrf_token": csrf_of(colleague, url)})
    assert refused.status_code == 303
    assert "Another reviewer is already working on this report" in flash_text(colleague.get(url))
    reviewer_id = db.scalars(
        select(User.id).where(User.email == "quispe@dircetur-cusco.gob.pe")
    ).one()
    db.expire_all()
    assert db.get(AnnualReport, filed["report_id"]).assigned_to_id == reviewer_id
    assert audit_actions(db) == ["report.assign"]

    released = post_form(reviewer, f"{url}/release", {}, form_page=url)
    assert released.status_code == 303
    assert "released" in flash_text(reviewer.get(url))
    db.expire_all()
    assert db.get(AnnualReport, filed["report_id"]).assigned_to_id is None
    taken = post_form(colleague, f"{url}/assign", {}, form_page=url)
    assert taken.status_code == 303
    db.expire_all()
    assert db.get(AnnualReport, filed["report_id"]).assigned_to_id != reviewer_id
    assert audit_actions(db) == ["report.assign", "report.unassign", "report.assign"]
    entry = db.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert entry.actor_email == "mamani@dircetur-cusco.gob.pe" and entry.region == "PE-CUS"

    # Without this session's token nothing changes.
    forged = colleague.post(f"{url}/release", data={"csrf_token": "forged"})
    assert forged.status_code == 303
    db.expire_all()
    assert db.get(AnnualReport, filed["report_id"]).assigned_to_id is not None


# --- two reviewers at the same moment ---------------------------------------------------------------------


def test_two_decisions_racing_on_one_submission_one_wins(app, db, database_url, filed):
    if "sqlite" in database_url:
        pytest.skip("SQLite serialises writers; the race is only real on PostgreSQL")
    make_user(db, "quispe@dircetur-cusco.gob.pe", role="reviewer", regions=("PE-CUS",))
    make_user(db, "mamani@dircetur-cusco.gob.pe", role="reviewer", regions=("PE-CUS",))
    barrier = threading.Barrier(2, timeout=15)
    outcomes: dict[str, str] = {}

    def review(email: str, data: service.DecisionInput) -> None:
        with i18n.use_locale("en"), Session(app.state.engine, expire_on_commit=False) as session:
            try:
                user = session.scalars(select(User).where(User.email == email)).one()
                item = service.get_for_review(
                    db_session=session, user=user, report_id=filed["report_id"]
                )
                barrier.wait()
                service.decide(
                    db_session=session,
                    settings=app.state.settings,
                    user=user,
                    item=item,
                    data=data,
                )
                session.commit()
                outcomes[email] = "decided"
            except DomainError as exc:
                session.rollback()
                outcomes[email] = exc.message
            except Exception as exc:  # anything else is a failure of the test, reported below
                session.rollback()
                outcomes[email] = f"unexpected {exc!r}"

    threads = [
        threading.Thread(
            target=review,
            args=("quispe@dircetur-cusco.gob.pe", service.DecisionInput("approved", 1)),
        ),
        threading.Thread(
            target=review,
            args=(
                "mamani@dircetur-cusco.gob.pe",
                service.DecisionInput(
                    "changes_requested",
                    1,
                    comment="Complete the training section.",
                    section_comments={"training": "Attach the attendance list."},
                ),
            ),
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(t.is_alive() for t in threads)

    assert sorted(outcomes.values()) == sorted(
        [
            "decided",
            "Another reviewer decided on this report a moment ago. Reload the page to see the decision.",
        ]
    ), outcomes
    winner = next(email for email, outcome in outcomes.items() if outcome == "decided")
    (decision,) = decisions(db)
    assert decision.decision == ("approved" if winner.startswith("quispe") else "changes_requested")
    assert state_of(db, filed["report_id"]) == decision.decision
    assert audit_actions(db) == [f"report.{decision.decision}"]
