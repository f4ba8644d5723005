"""Every answer of the portal carries the security headers (pages, form posts, downloads, the API,
static files, redirects and every error page), and every cookie is HttpOnly, SameSite and, over
https, Secure."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from app.main import create_app, dispose_engines, route_table
from tests.conftest import make_settings, make_user, post_form, sign_in

CSP_DIRECTIVES = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "object-src": "'none'",
    "frame-ancestors": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
}


def assert_secure_headers(response, https: bool = False) -> None:  # type: ignore[no-untyped-def]
    where = f"{response.request.method} {response.request.url} ({response.status_code})"
    csp = response.headers.get("content-security-policy", "")
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if d.strip())
    for name, value in CSP_DIRECTIVES.items():
        assert directives.get(name) == value, (where, csp)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, where
    assert response.headers.get("x-content-type-options") == "nosniff", where
    assert response.headers.get("referrer-policy") == "same-origin", where
    assert "camera=()" in response.headers.get("permissions-policy", ""), where
    assert response.headers.get("x-frame-options") == "DENY", where
    hsts = response.headers.get("strict-transport-security")
    if https:
        assert hsts and re.match(r"max-age=\d{8,}", hsts), where
    else:
        assert hsts is None, where


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path).replace("/1.pdf", "/2025.pdf")


def test_every_route_of_the_route_table_carries_the_headers(client, db):
    make_user(db, "rosa@hostal.pe")
    routes = [(m, r.path) for r in route_table() for m in sorted(r.methods - {"HEAD"})]
    assert len(routes) > 100
    for signed_in in (False, True):
        if signed_in:
            sign_in(client, "rosa@hostal.pe")
        for method, path in routes:
            if path == "/account/logout":
                continue
            assert_secure_headers(client.request(method, _concrete(path)))


def test_static_files_errors_redirects_and_the_api_carry_them(client):
    answers = {
        "/static/css/portal.css": 200,
        "/api/docs/assets/swagger-ui-bundle.js": 200,
        "/static/nothing-here.css": 404,
        "/no/such/page": 404,
        "/dashboard": 303,
        "/api/v1/establishments": 401,
        "/api/v1/no-such-endpoint": 404,
        "/register?q=%00": 400,
        "/api/v1/register?q=%00": 400,
        "/register/abc": 404,
    }
    for url, status in answers.items():
        response = client.get(url)
        assert response.status_code == status, url
        assert_secure_headers(response)
    assert_secure_headers(client.delete("/register"))  # 405


def test_the_unexpected_error_page_carries_them(app):
    def broken() -> None:
        raise RuntimeError("a bug")

    own = create_app(app.state.settings)  # the other tests' app keeps its routes
    own.add_api_route("/broken-for-test", broken)
    own.add_api_route("/api/v1/broken-for-test", broken)
    try:
        with TestClient(own, raise_server_exceptions=False) as client:
            response = client.get("/broken-for-test")
            problem = client.get("/api/v1/broken-for-test")
    finally:
        dispose_engines(own)
    assert response.status_code == 500
    assert "Sorry, something went wrong" in response.text or "Lo sentimos" in response.text
    assert_secure_headers(response)
    # The API's problem details for the same error (issue 17: they had none of the headers).
    assert problem.status_code == 500
    assert problem.headers["content-type"].startswith("application/problem+json")
    assert problem.json()["code"] == "internal_error"
    assert_secure_headers(problem)


def _cookies(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {header.split("=", 1)[0]: header for header in response.headers.get_list("set-cookie")}


def _check_cookie(header: str, secure: bool) -> None:
    attributes = {a.strip().split("=")[0].lower() for a in header.split(";")[1:]}
    assert {"httponly", "samesite", "path"} <= attributes, header
    assert re.search(r"samesite=(lax|strict)", header, re.I), header
    assert ("secure" in attributes) == secure, header


@pytest.mark.parametrize("https", [False, True])
def test_every_cookie_is_httponly_samesite_and_secure_over_https(
    database_url, smtp_server, mailbox, tmp_path, https
):
    from tests.conftest import _empty_tables

    base = "https://testserver" if https else "http://testserver"
    application = create_app(make_settings(database_url, smtp_server[1], base, tmp_path))
    _empty_tables(application)
    try:
        with TestClient(application, base_url=base, follow_redirects=False) as client:
            from sqlmodel import Session

            with Session(application.state.engine) as db:
                make_user(db, "rosa@hostal.pe")
            first = client.get("/")
            assert_secure_headers(first, https=https)
            seen = _cookies(first)
            login = post_form(
                client,
                "/account/login",
                {"email": "rosa@hostal.pe", "password": "Tambopata-Rio-2026"},
            )
            assert login.status_code == 303
            seen |= _cookies(login)
            switched = post_form(client, "/language", {"lang": "en", "next": "/"}, form_page="/")
            seen |= _cookies(switched)
            logout = post_form(client, "/account/logout", {}, form_page="/dashboard")
            seen |= _cookies(logout)
            seen_flash = _cookies(client.get("/"))
            assert_secure_headers(logout, https=https)
    finally:
        dispose_engines(application)
    assert {"portal_sid", "portal_lang", "portal_flash"} <= set(seen), seen.keys()
    for header in [*seen.values(), *seen_flash.values()]:
        _check_cookie(header, secure=https)


def test_a_plain_http_portal_sends_hsts_to_requests_that_came_over_https(app):
    with TestClient(app, base_url="https://testserver") as client:
        assert_secure_headers(client.get("/register"), https=True)
        assert_secure_headers(client.get("/static/css/portal.css"), https=True)


def test_signed_in_pages_are_never_stored_by_a_browser_or_proxy(client, db):
    make_user(db, "rosa@hostal.pe")
    sign_in(client, "rosa@hostal.pe")
    for path in ("/dashboard", "/account/tokens", "/account/password", "/reports"):
        assert client.get(path).headers["cache-control"] == "no-store", path


def test_text_people_typed_is_shown_as_text_never_as_markup(client, db):
    """Output encoding: a trade name written as HTML is escaped on every page that shows it."""
    from tests.conftest import SIGNATURE, add_establishment

    make_user(db, "rosa@hostal.pe")
    sign_in(client, "rosa@hostal.pe")
    name = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    establishment_id = add_establishment(client, trade_name=name)
    assert (
        post_form(client, f"/establishments/{establishment_id}/sign", SIGNATURE).status_code == 303
    )
    for path in (
        "/dashboard",
        f"/establishments/{establishment_id}",
        f"/register/{establishment_id}",
    ):
        body = client.get(path).text
        assert "<script>alert" not in body and "<img src=x" not in body, path
        assert "&lt;script&gt;alert(" in body, path
    found = client.get("/api/v1/register", params={"q": "script"}).json()
    assert [item["trade_name"] for item in found["items"]] == [name]  # JSON carries it as data


@pytest.mark.server
def test_portal_serve_announces_no_server_software(tmp_path):
    """`portal serve` (uvicorn) sends the portal's headers and no `server: uvicorn`."""
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'portal.db'}",
        "PORTAL_VAR_DIR": str(tmp_path),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/livez", timeout=2) as answer:
                    headers = answer.headers
                    break
            except OSError:
                assert time.monotonic() < deadline, "portal serve did not answer"
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=15)
    assert headers.get("server") is None
    assert headers.get("x-content-type-options") == "nosniff"
    assert "frame-ancestors 'none'" in headers.get("content-security-policy", "")
