"""The review cycle in a real Chromium: an operator files, a reviewer of the region asks for changes
on one section, the operator reads the comment beside it, amends and files again, the reviewer
approves, and the operator sees the report approved."""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlmodel import Session

from app.db import make_engine
from tests.browser import test_report_filing as filing
from tests.browser.conftest import TIMEOUT_MS, at, sign_in
from tests.conftest import Mailbox, establishment_form, make_user, wait_for
from tests.reports.conftest import COMPLETE

pytestmark = pytest.mark.browser

REVIEWER = "quispe@dircetur-cusco.gob.pe"
GENERAL_COMMENT = "The training section does not match the evidence: correct it and file again."
TRAINING_COMMENT = "Say how many of the 12 people were trained this year."

#: The report on last year, open now (the fixture of the filing test).
period_year = filing.period_year


@pytest.fixture
def reviewer(database_url: str, live_server: str) -> str:
    """A reviewer of Cusco in the live server's database; returns the e-mail."""
    engine = make_engine(database_url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            make_user(session, REVIEWER, role="reviewer", regions=("PE-CUS",))
    finally:
        engine.dispose()
    return REVIEWER


@pytest.fixture
def reviewer_page(browser: Browser, live_server: str) -> Page:
    """A second browser, with its own cookies, for the reviewer."""
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()  # type: ignore[misc]
    context.close()


def a_small_png(path: Path) -> Path:
    """A real 8×8 PNG (a browser must be able to draw it)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xc0\x20\x20" * 8 for _ in range(8))
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
    return path


def in_english(page: Page) -> None:
    """Switch the portal to English with the header's language button (it is remembered)."""
    page.locator("header .lang-switch button[value=en]").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")


def file_the_report(page: Page, report_path: str) -> None:
    page.goto(f"{report_path}/summary")
    page.locator("main form[action$='/submit'] input[name=confirm]").check()
    page.locator("main form[action$='/submit'] button[type=submit]").click()
    expect(page).to_have_url(at(report_path))
    expect(page.locator("main .flash--success")).to_be_visible()


def test_changes_requested_then_amended_and_approved(
    page: Page,
    reviewer_page: Page,
    operator: str,
    reviewer: str,
    period_year: int,
    mailbox: Mailbox,
    tmp_path: Path,
) -> None:
    data = establishment_form()
    poster = a_small_png(tmp_path / "afiche-recepcion.png")

    # The operator files the report, with a photo of the poster on the policy section.
    sign_in(page, operator)
    in_english(page)
    report_path = urlsplit(filing.add_signed_lodging(page, data)).path + f"/reports/{period_year}"
    page.goto(report_path)
    page.locator("main form[action$='/start'] button[type=submit]").click()
    expect(page).to_have_url(at(report_path))
    for code, values in COMPLETE.items():
        page.goto(f"{report_path}/sections/{code}")
        if code == "policy":
            page.set_input_files("input[name=file]", poster)
            page.locator("main form[action$='/evidence'] button[type=submit]").click()
            expect(page.locator("main .flash--success")).to_contain_text(poster.name)
        filing.fill_section(page, code, values)
        page.locator(f"main form[action$='/sections/{code}'] button[type=submit]").click()
        expect(page, f"section {code} is saved").to_have_url(at(report_path))
    file_the_report(page, report_path)

    # The reviewer of Cusco finds it in the queue and asks for changes on the training section.
    review = reviewer_page
    sign_in(review, reviewer)
    in_english(review)
    review.locator("header a[href='/review']").click()
    expect(review).to_have_url(at(r"/review"))
    row = review.locator("main table tbody tr").filter(has_text=data["trade_name"])
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Filed, waiting for review")
    row.locator("a").first.click()
    expect(review).to_have_url(at(r"/review/reports/\d+"))
    review_path = urlsplit(review.url).path
    expect(review.locator("main #section-training")).to_contain_text("DIRCETUR Cusco")
    thumbnail = review.locator(f"main #section-policy img[alt='{poster.name}']")
    expect(thumbnail).to_be_visible()
    assert thumbnail.evaluate("img => img.complete && img.naturalWidth") == 8, "the photo is drawn"
    review.locator("main textarea[name='section-training']").fill(TRAINING_COMMENT)
    review.locator("main input[name=decision][value=changes_requested]").check()
    review.locator("main textarea[name=comment]").fill(GENERAL_COMMENT)
    review.locator(f"main form[action='{review_path}'] button[type=submit]").click()
    expect(review).to_have_url(at(r"/review"))
    expect(review.locator("main .flash--success")).to_contain_text(data["trade_name"])
    expect(review.locator("main table tbody tr").filter(has_text=data["trade_name"])).to_have_count(
        0
    )
    assert wait_for(
        lambda: any("changes requested" in m["Subject"] for m in mailbox.to(operator))
    ), [m["Subject"] for m in mailbox.to(operator)]

    # The operator reads the comment at the top and beside the training section, and amends it.
    page.goto(report_path)
    expect(page.locator("main .summary-list .tag").first).to_have_text("Changes requested")
    expect(page.locator("main #review-comment")).to_contain_text(GENERAL_COMMENT)
    training_row = page.locator("main table tbody tr").filter(
        has=page.locator("a[href$='/sections/training']")
    )
    expect(training_row).to_contain_text(TRAINING_COMMENT)
    training_row.locator("a[href$='/sections/training']").click()
    expect(page).to_have_url(at(rf"{report_path}/sections/training"))
    expect(page.locator("main #review-comment")).to_contain_text(TRAINING_COMMENT)
    filing.fill_section(page, "training", {"status": "done", "fig-staff_trained": "12"})
    page.locator("main form[action$='/sections/training'] button[type=submit]").click()
    expect(page).to_have_url(at(report_path))
    file_the_report(page, report_path)
    expect(page.locator("main .summary-list .tag").first).to_have_class(
        re.compile(r"\btag--pending\b")
    )

    # The reviewer sees what changed in submission 2, and approves it.
    review.goto("/review")
    row = review.locator("main table tbody tr").filter(has_text=data["trade_name"])
    expect(row).to_contain_text("Filed again, waiting for review")
    row.locator("a").first.click()
    expect(review).to_have_url(at(review_path))
    training = review.locator("main #section-training")
    expect(training.locator(".tag")).to_have_text("Changed")
    expect(training).to_contain_text("Staff trained this year")
    expect(review.locator("main #section-policy .tag")).to_have_count(0)
    review.locator("main input[name=decision][value=approved]").check()
    review.locator(f"main form[action='{review_path}'] button[type=submit]").click()
    expect(review).to_have_url(at(r"/review"))
    expect(review.locator("main .flash--success")).to_contain_text("approved")

    # The operator's report is approved.
    page.goto(report_path)
    state = page.locator("main .summary-list .tag").first
    expect(state).to_have_class(re.compile(r"\btag--good\b"))
    expect(state).to_have_text("Approved")
    assert wait_for(lambda: any("approved" in m["Subject"] for m in mailbox.to(operator)))
