"""Filing an annual report in a real Chromium: from the chain table, section by section with an
evidence upload, through the summary to the filed state, the receipt PDF and the receipt mail."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect
from pypdf import PdfReader, PdfWriter
from sqlmodel import Session

from app.db import make_engine
from tests.browser.conftest import at, sign_in
from tests.conftest import SIGNATURE, Mailbox, establishment_form, wait_for
from tests.reports.conftest import COMPLETE

pytestmark = pytest.mark.browser

SUBMIT = "main form button[type=submit]"
SHA256 = re.compile(r"\b[0-9a-f]{64}\b")


@pytest.fixture
def period_year(database_url: str, live_server: str) -> int:
    """The report on last year, open now, deadline in 20 days, cut-off today, in the live server's
    database (made after the live server emptied its tables); returns the year."""
    from app.clock import today
    from app.reports import service

    now = today()
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            period = service.create_period(
                db_session=session,
                data=service.PeriodInput(
                    year=now.year - 1,
                    opens_on=now - timedelta(days=10),
                    deadline=now + timedelta(days=20),
                    grace_days=30,
                    cutoff_on=now,
                ),
            )
            session.commit()
            return period.year
    finally:
        engine.dispose()


def field(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.locator(f"main form [name='{name}']")


def add_signed_lodging(page: Page, data: dict[str, str]) -> str:
    """Add the lodging in PE-CUS and sign the Code for it, through the forms; returns its URL."""
    page.goto("/establishments/new")
    for name in ("ruc", "branch_code", "legal_name", "trade_name"):
        field(page, name).fill(data[name])
    field(page, "category").select_option(value=data["category"])
    field(page, "region").select_option(value=data["region"])
    for name in ("province", "district", "address", "website", "phone"):
        field(page, name).fill(data[name])
    page.locator(SUBMIT).click()
    expect(page).to_have_url(at(r"/establishments/\d+"))
    establishment_url = page.url

    page.locator("main a[href$='/sign']").click()
    field(page, "representative_name").fill(SIGNATURE["representative_name"])
    field(page, "document_type").and_(page.locator("[value=DNI]")).check()
    field(page, "document_number").fill(SIGNATURE["document_number"])
    field(page, "accept").check()
    page.locator(SUBMIT).click()
    expect(page).to_have_url(establishment_url)
    expect(page.locator("main .signed-box")).to_be_visible()
    return establishment_url


def fill_section(page: Page, code: str, values: dict[str, str]) -> None:
    """Answer a section's form as a person does: radios clicked, everything else typed."""
    form = page.locator(f"main form[action$='/sections/{code}']")
    form.locator("button[type=submit]").wait_for()  # the whole form is parsed: count() won't wait
    for name, value in values.items():
        radios = form.locator(f"input[type=radio][name='{name}']")
        if radios.count():
            radios.and_(page.locator(f"[value='{value}']")).check()
        else:
            form.locator(f"[name='{name}']").fill(value)


def a_small_pdf(path: Path) -> Path:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    with path.open("wb") as out:
        writer.write(out)
    return path


def pdf_text(data: bytes) -> str:
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)


def receipt_hash(text: str) -> str | None:
    """The first 16 characters of the first SHA-256 in a receipt, wherever its lines break."""
    found = re.search(r"SHA-256([0-9a-f]{16})[0-9a-f]{48}", re.sub(r"\s+", "", text))
    return found.group(1) if found else None


def test_operator_files_the_annual_report_with_evidence_and_gets_the_receipt(
    page: Page, operator: str, period_year: int, mailbox: Mailbox, tmp_path: Path
) -> None:
    data = establishment_form()
    evidence = a_small_pdf(tmp_path / "politica-aprobada.pdf")

    sign_in(page, operator)
    establishment_path = urlsplit(add_signed_lodging(page, data)).path
    report_path = f"{establishment_path}/reports/{period_year}"

    # The chain table: the lodging has the report on last year to start.
    page.locator("header a[href='/reports']").click()
    expect(page).to_have_url(at(r"/reports"))
    row = page.locator("main table tbody tr").filter(has_text=data["trade_name"])
    expect(row).to_have_count(1)
    row.locator(f"a[href$='/reports/{period_year}']").click()
    expect(page).to_have_url(at(report_path))

    page.locator("main form[action$='/start'] button[type=submit]").click()
    expect(page).to_have_url(at(report_path))
    sections = page.locator("main table tbody th a")
    expect(sections).to_have_count(len(COMPLETE))

    for code, values in COMPLETE.items():
        page.locator(f"main table tbody th a[href$='/sections/{code}']").click()
        expect(page).to_have_url(at(rf"{report_path}/sections/{code}"))
        if code == "policy":
            page.set_input_files("input[name=file]", evidence)
            page.locator("main form[action$='/evidence'] button[type=submit]").click()
            expect(page).to_have_url(at(rf"{report_path}/sections/{code}(#evidence)?"))
            expect(page.locator("main .flash--success")).to_contain_text(evidence.name)
            expect(page.locator("main #evidence + ul a")).to_have_text(evidence.name)
        fill_section(page, code, values)
        page.locator(f"main form[action$='/sections/{code}'] button[type=submit]").click()
        expect(page, f"section {code} is saved").to_have_url(at(report_path))
        expect(page.locator("main .flash--success")).to_be_visible()

    # Every section is complete now; the policy has its one file.
    expect(page.locator("main table tbody .error-message")).to_have_count(0)
    policy_row = page.locator("main table tbody tr").filter(
        has=page.locator("a[href$='/sections/policy']")
    )
    expect(policy_row.locator("td").nth(1)).to_have_text("1")

    # The summary has nothing to fix; confirm and file.
    page.locator(f"main a[href$='/reports/{period_year}/summary']").click()
    expect(page).to_have_url(at(rf"{report_path}/summary"))
    confirm = page.locator("main form[action$='/submit'] input[name=confirm]")
    expect(confirm, "the filing form shows only when there is nothing to fix").to_be_visible()
    expect(page.locator(".error-summary")).to_have_count(0)
    expect(page.locator("main")).to_contain_text(evidence.name)
    confirm.check()
    page.locator("main form[action$='/submit'] button[type=submit]").click()

    expect(page).to_have_url(at(report_path))
    flash = page.locator("main .flash--success")
    expect(flash).to_be_visible()
    expect(flash).to_contain_text(str(period_year))
    expect(page.locator("main .summary-list .tag").first).to_have_class(
        re.compile(r"\btag--pending\b")
    )
    expect(page.locator("main form[action$='/submit']")).to_have_count(0)
    hashes = SHA256.findall(page.locator("main").inner_text())
    assert len(hashes) == 1, f"one SHA-256 of what was filed on the overview, got {hashes}"
    sha = hashes[0]

    # The receipt: downloaded through its link and read.
    with page.expect_download(timeout=60_000) as download_info:
        page.locator("main a[href$='/submissions/1/receipt.pdf']").click()
    download = download_info.value
    assert download.failure() is None
    receipt_name = re.compile(rf"^\w+-{period_year}-{data['ruc']}-{data['branch_code']}-1\.pdf$")
    assert receipt_name.match(download.suggested_filename), download.suggested_filename
    receipt = tmp_path / download.suggested_filename
    download.save_as(receipt)
    text = pdf_text(receipt.read_bytes())
    assert data["trade_name"] in " ".join(text.split())
    assert str(period_year) in text
    assert receipt_hash(text) == sha[:16], "the receipt names the SHA-256 the overview shows"

    # The receipt mail reached the real SMTP server, with the PDF attached.
    def receipt_mail():  # type: ignore[no-untyped-def]
        for message in mailbox.to(operator):
            for part in message.iter_attachments():
                if part.get_content_type() == "application/pdf" and receipt_name.match(
                    part.get_filename() or ""
                ):
                    return message, part
        return None

    assert wait_for(receipt_mail), (
        f"no receipt mail with a PDF; got {[m['Subject'] for m in mailbox.to(operator)]}"
    )
    mail, attachment = receipt_mail()
    assert sha in Mailbox.body(mail)
    assert attachment.get_filename() == download.suggested_filename
    assert receipt_hash(pdf_text(attachment.get_content())) == sha[:16]
