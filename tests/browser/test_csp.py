"""The Content-Security-Policy holds in a real browser: no page the portal serves needs an inline
script or style, Swagger UI included (it sets styles through the DOM, which CSP allows)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser

WATCH_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + (event.blockedURI || "inline"));
});
"""


def _violations(page: Page) -> list[str]:
    return page.evaluate("window.__cspViolations")


def test_the_watch_sees_a_violation(page: Page):
    """The check below would notice: an inline style attribute is refused and reported."""
    page.add_init_script(WATCH_VIOLATIONS)
    page.goto("/")
    page.evaluate("""document.body.insertAdjacentHTML("beforeend", '<p style="color:red">x</p>')""")
    page.wait_for_function("window.__cspViolations.length > 0")
    assert _violations(page)[0].startswith("style-src")


def test_swagger_ui_works_under_the_strict_policy(page: Page):
    page.add_init_script(WATCH_VIOLATIONS)
    refused: list[str] = []
    page.on(
        "console", lambda msg: refused.append(msg.text) if "Content Security" in msg.text else None
    )
    response = page.goto("/api/docs")
    assert response is not None
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    operation = page.locator(".opblock-summary-path", has_text="/api/v1/register").first
    expect(operation).to_be_visible()
    operation.click()
    expect(page.locator(".opblock-body").first).to_be_visible()
    page.locator(".try-out__btn").first.click()
    page.locator(".execute").first.click()
    expect(page.locator(".responses-table .response-col_status").first).to_be_visible()
    page.locator(".models-control, .models h4").first.click()
    page.wait_for_timeout(300)
    assert _violations(page) == [] and refused == []


def test_portal_pages_need_nothing_inline(page: Page, operator: str):
    page.add_init_script(WATCH_VIOLATIONS)
    for path in ("/", "/register", "/verify", "/statistics", "/open-data", "/account/login"):
        page.goto(path)
        assert _violations(page) == [], path
    sign_in(page, operator)
    for path in ("/dashboard", "/establishments/new", "/account/tokens", "/reports"):
        page.goto(path)
        assert _violations(page) == [], path
