"""How the portal is served: kept-alive connections, and clients that hang up mid-request.

Both came out of the load test (bench/load_bench.py): at 200 users on a busy machine, uvicorn's 5 s
keep-alive closed connections that already carried a request, and a client stopped mid-form was
logged as an unexpected error.
"""

from __future__ import annotations

import asyncio
import http.client
import logging
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi import FastAPI

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.server
def test_portal_serve_keeps_an_idle_connection_open_longer_than_uvicorns_default(
    tmp_path: Path,
) -> None:
    """And its workers share the register's pages in a file of this run's, gone after it."""
    port = _free_port()
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", "2"],
        env={
            **os.environ,
            "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'portal.db'}",
            "PORTAL_VAR_DIR": str(tmp_path),
            "PYTHONPATH": str(ROOT),
            "TMPDIR": str(temporary),
        },
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                connection.request("GET", "/livez")
                first = connection.getresponse()
                first.read()
                break
            except OSError:
                assert time.monotonic() < deadline, "portal serve did not start"
                time.sleep(0.3)
        assert first.status == 200
        time.sleep(6)  # longer than uvicorn's default of 5 s, as a person reading a page
        connection.request("GET", "/livez")  # the same connection: no new one is opened
        second = connection.getresponse()
        assert second.status == 200
        connection.close()
        assert "pages.sqlite3" in [p.name for p in temporary.glob("portal-register-*/*")]
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert list(temporary.iterdir()) == []


def test_a_client_that_hangs_up_mid_form_is_not_an_unexpected_error(app: FastAPI, caplog) -> None:  # type: ignore[no-untyped-def]
    """A browser closed during a post: nothing is saved, no error is logged, no 500."""
    arriving = [
        {"type": "http.request", "body": b"email=ana%40hostal.pe&pass", "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict] = []

    async def receive() -> dict:
        return arriving.pop(0) if arriving else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/account/login",
        "raw_path": b"/account/login",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", b"1000"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    # In a thread of its own: the browser tests' session-wide Playwright keeps an event loop
    # running in the main thread.
    with caplog.at_level(logging.INFO), ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, app(scope, receive, send)).result()
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [400]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
