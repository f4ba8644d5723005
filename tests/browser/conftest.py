"""Real-browser fixtures: the portal served by uvicorn on loopback, driven by Debian's Chromium.

The server uses the same migrated databases (SQLite and PostgreSQL) and the same real SMTP
server as the other tests, so the links in the mails point at the live server.
"""

from __future__ import annotations

import re
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import event
from sqlmodel import Session

from app.db import make_engine
from app.main import create_app, dispose_engines
from tests.conftest import (
    IN_CI,
    PASSWORD,
    Mailbox,
    _empty_tables,
    _free_port,
    make_settings,
    make_user,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Remember each phase's outcome on the test, so a failing test leaves a screenshot."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        reason = f"Chromium not found at {CHROMIUM} (Debian package 'chromium')"
        if IN_CI:
            pytest.fail(f"{reason}: the browser tests must run in CI")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def commit_delay() -> float:
    """Seconds each database commit of the live server takes longer (parametrize to change).

    A commit on loopback is quicker than one on a loaded server or a remote database; a delay
    shows whether a page can be answered before what it reports has been saved.
    """
    return 0.0


@pytest.fixture
def live_server(
    database_url: str,
    smtp_server: tuple[Mailbox, int],
    mailbox: Mailbox,
    tmp_path: Path,
    commit_delay: float,
) -> Iterator[str]:
    """The portal on a free loopback port, on empty tables; yields its base URL."""
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    app = create_app(make_settings(database_url, smtp_server[1], base_url, tmp_path))
    _empty_tables(app)
    if commit_delay:

        @event.listens_for(app.state.engine, "commit")
        def _slow_commit(connection: object) -> None:
            time.sleep(commit_delay)

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        _wait_until_answering(f"{base_url}/healthz", thread)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        dispose_engines(app)
    assert not thread.is_alive(), "the live server did not stop"


def _wait_until_answering(url: str, thread: threading.Thread, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    problem = "not started"
    while time.monotonic() < deadline:
        if not thread.is_alive():
            pytest.fail(f"the live server stopped before answering at {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
                problem = f"HTTP {response.status}"
        except OSError as exc:
            problem = str(exc)
        time.sleep(0.05)
    pytest.fail(f"the live server did not answer at {url} within {timeout}s: {problem}")


@pytest.fixture
def page(
    browser: Browser, live_server: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Page]:
    """A fresh browser profile (no cookies) whose relative URLs go to the live server.

    A failing test leaves a screenshot of the last page in its tmp_path.
    """
    context = browser.new_context(
        base_url=live_server, accept_downloads=True, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(TIMEOUT_MS)
    browser_page = context.new_page()
    yield browser_page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        shot = tmp_path / "failure.png"
        try:
            browser_page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot of the failing page: {shot} ({browser_page.url})")
        except Exception as exc:  # the page may be gone; the test's own error matters more
            print(f"no screenshot of the failing page: {exc}")
    context.close()


@pytest.fixture
def operator(database_url: str, live_server: str) -> str:
    """A confirmed operator account in the live server's database; returns its e-mail."""
    email = "rosa@hostal.pe"
    engine = make_engine(database_url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            make_user(session, email)
    finally:
        engine.dispose()
    return email


def at(path_pattern: str) -> re.Pattern[str]:
    """A whole URL of the live server with this path (a regular expression) and no query."""
    return re.compile(r"^http://127\.0\.0\.1:\d+" + path_pattern + r"/?$")


def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Sign in through the form, as a person does, and land on the dashboard."""
    page.goto("/account/login")
    page.locator("main form [name=email]").fill(email)
    page.locator("main form [name=password]").fill(password)
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(at(r"/dashboard"))
