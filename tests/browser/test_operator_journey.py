"""An operator's journey in a real Chromium: account, confirmation mail, establishment, signature,
acknowledgement PDF; a form error as a person sees it; the language switch; the phone layout."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from tests.browser.conftest import at, sign_in
from tests.conftest import PASSWORD, SIGNATURE, Mailbox, establishment_form, valid_ruc, wait_for

pytestmark = pytest.mark.browser

SUBMIT = "main form button[type=submit]"


def field(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.locator(f"main form [name={name}]")


def fill_establishment(page: Page, data: dict[str, str]) -> None:
    for name in ("ruc", "branch_code", "legal_name", "trade_name"):
        field(page, name).fill(data[name])
    field(page, "category").select_option(value=data["category"])
    field(page, "region").select_option(label="Cusco")  # the visible name of PE-CUS
    for name in ("province", "district", "address", "website", "phone"):
        field(page, name).fill(data[name])


def test_operator_registers_adds_signs_and_downloads_the_acknowledgement(
    page: Page, live_server: str, mailbox: Mailbox, tmp_path: Path
) -> None:
    email = "gerencia@hostalnusta.pe"
    data = establishment_form()

    # Home page, in Spanish by default; on to create an account.
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    page.locator("main a[href='/account/register']").click()
    expect(page).to_have_url(f"{live_server}/account/register")

    field(page, "email").fill(email)
    field(page, "password").fill(PASSWORD)
    field(page, "password_confirm").fill(PASSWORD)
    field(page, "privacy").check()
    page.locator(SUBMIT).click()
    expect(page).to_have_url(f"{live_server}/account/register/sent")

    # The confirmation mail arrives at the real SMTP server and links to the live server.
    assert wait_for(lambda: mailbox.to(email)), "no confirmation mail arrived"
    assert f"{live_server}/account/confirm/" in Mailbox.body(mailbox.last_to(email))
    page.goto(mailbox.link_in_last(email, "/account/confirm/"))
    page.locator(SUBMIT).click()
    expect(page).to_have_url(at(r"/account/login"))
    expect(page.locator("main .flash--success")).to_be_visible()

    # Sign in: the dashboard has nothing yet.
    sign_in(page, email)
    expect(page.locator("main table")).to_have_count(0)

    # Add the establishment.
    page.locator("main a[href='/establishments/new']").click()
    fill_establishment(page, data)
    page.locator(SUBMIT).click()
    expect(page).to_have_url(at(r"/establishments/\d+"))
    establishment_url = page.url
    expect(page.locator("main h1")).to_have_text(data["trade_name"])
    expect(page.locator("main .flash--success")).to_contain_text(data["trade_name"])

    # Sign the Code for it.
    page.locator("main a[href$='/sign']").click()
    expect(page).to_have_url(f"{establishment_url}/sign")
    field(page, "representative_name").fill(SIGNATURE["representative_name"])
    field(page, "document_type").and_(page.locator("[value=DNI]")).check()
    field(page, "document_number").fill(SIGNATURE["document_number"])
    field(page, "accept").check()
    page.locator(SUBMIT).click()
    expect(page).to_have_url(establishment_url)

    expect(page.locator("main .flash--success")).to_be_visible()
    number_cell = page.locator("main .signed-box .signatory-number")
    expect(
        number_cell, "the signatory number the message announces is on the establishment page"
    ).to_have_text(re.compile(r"^CC-\d{4}-\d{6}$"))
    number = number_cell.inner_text().strip()
    expect(page.locator("main .flash--success")).to_contain_text(number)
    expect(page.locator("main .standing .tag")).to_have_class(re.compile(r"\btag--good\b"))

    # The establishment page at phone width: one screenshot, and nothing wider than the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    screenshot = tmp_path / "establishment-390x844.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 0
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
        "the establishment page scrolls sideways at 390px: "
        f"{page.evaluate('document.documentElement.scrollWidth')}px wide"
    )
    page.set_viewport_size({"width": 1280, "height": 900})

    # Download the acknowledgement through its link and read it.
    with page.expect_download(timeout=60_000) as download_info:
        page.locator("main a[href$='/acknowledgement.pdf']").click()
    download = download_info.value
    assert download.failure() is None
    assert download.suggested_filename == f"{number}.pdf"
    pdf_path = tmp_path / download.suggested_filename
    download.save_as(pdf_path)
    text = "\n".join(p.extract_text() for p in PdfReader(pdf_path).pages)
    assert number in text
    assert data["trade_name"] in text

    # The dashboard lists it, with its number and a standing tag.
    page.locator("main a[href='/dashboard']").click()
    expect(page).to_have_url(at(r"/dashboard"))
    row = page.locator("main table tbody tr").filter(has_text=data["trade_name"])
    expect(row).to_have_count(1)
    expect(row).to_contain_text(number)
    expect(row.locator(".tag")).to_have_class(re.compile(r"\btag--good\b"))
    expect(row.locator(".tag")).not_to_have_text("")


def test_wrong_ruc_check_digit_is_explained_and_the_rest_is_kept(page: Page, operator: str) -> None:
    good = valid_ruc("2060412345")
    wrong = good[:-1] + str((int(good[-1]) + 1) % 10)
    data = establishment_form(ruc=wrong, trade_name="Hostal Ñusta del Valle")

    sign_in(page, operator)
    page.goto("/establishments/new")
    fill_establishment(page, data)
    page.locator(SUBMIT).click()

    expect(page).to_have_url(at(r"/establishments/new"))
    expect(page).to_have_title(re.compile(r"^Error"))
    summary = page.locator("#error-summary")
    expect(summary).to_be_visible()
    summary_link = summary.locator("a[href='#field-ruc']")
    expect(summary_link).to_have_count(1)

    message = page.locator("#field-ruc-error")
    expect(message).to_be_visible()
    expect(message).not_to_have_text(re.compile(r"^\s*(Error:)?\s*$"))
    expect(summary_link).to_have_text(message.inner_text().replace("Error:", "").strip())
    ruc = field(page, "ruc")
    expect(ruc).to_have_attribute("aria-invalid", "true")
    expect(ruc).to_have_attribute("aria-describedby", re.compile(r"\bfield-ruc-error\b"))
    # Only the RUC is wrong.
    expect(page.locator("main .error-message")).to_have_count(1)

    # What was typed is still there.
    expect(ruc).to_have_value(wrong)
    expect(field(page, "trade_name")).to_have_value(data["trade_name"])
    expect(field(page, "legal_name")).to_have_value(data["legal_name"])
    expect(field(page, "category")).to_have_value(data["category"])
    expect(field(page, "region")).to_have_value(data["region"])
    expect(field(page, "address")).to_have_value(data["address"])

    # Correcting the RUC is enough to add it.
    ruc.fill(good)
    page.locator(SUBMIT).click()
    expect(page).to_have_url(at(r"/establishments/\d+"))
    expect(page.locator("main h1")).to_have_text(data["trade_name"])


def test_english_switch_persists_across_pages(page: Page, live_server: str) -> None:
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "es")

    page.locator("header").get_by_role("button", name="English").click()
    expect(page).to_have_url(f"{live_server}/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("header").get_by_role("button", name="Español")).to_be_visible()
    assert {"name": "portal_lang", "value": "en"}.items() <= next(
        c for c in page.context.cookies() if c["name"] == "portal_lang"
    ).items()

    # Another page, reached by a link, is in English too.
    page.locator("header a[href='/code']").click()
    expect(page).to_have_url(f"{live_server}/code")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.locator("header a[href='/account/register']").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")

    # And back to Spanish from there, staying on the same page.
    page.locator("header").get_by_role("button", name="Español").click()
    expect(page).to_have_url(f"{live_server}/account/register")
    expect(page.locator("html")).to_have_attribute("lang", "es")


@pytest.mark.parametrize("commit_delay", [0.5])
def test_the_page_after_a_form_shows_what_the_form_saved(
    page: Page, operator: str, commit_delay: float
) -> None:
    """A browser follows the redirect after a POST at once: the next page must already see the
    change, however long the commit takes (here half a second longer than on loopback)."""
    page.goto("/account/login")
    field(page, "email").fill(operator)
    field(page, "password").fill(PASSWORD)
    page.locator(SUBMIT).click()
    expect(page, "signed in, the dashboard shows (not the sign-in page again)").to_have_url(
        at(r"/dashboard")
    )

    page.goto("/establishments/new")
    fill_establishment(page, establishment_form())
    page.locator(SUBMIT).click()
    expect(
        page.locator("main h1"), "the new establishment's page (not 'Page not found')"
    ).to_have_text("Hostal Ñusta")

    page.locator("main a[href$='/sign']").click()
    field(page, "representative_name").fill(SIGNATURE["representative_name"])
    field(page, "document_number").fill(SIGNATURE["document_number"])
    field(page, "accept").check()
    page.locator(SUBMIT).click()
    expect(page.locator("main .flash--success")).to_be_visible()
    expect(
        page.locator("main .signed-box"), "the signature the message announces is on the page"
    ).to_be_visible()
