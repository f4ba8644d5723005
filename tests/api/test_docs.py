"""The OpenAPI document covers the API only, and Swagger UI loads from the portal itself."""

from __future__ import annotations

from tests.conftest import page


def test_openapi_covers_only_the_api(client):
    schema = client.get("/openapi.json").json()
    assert schema["paths"] and all(p.startswith("/api/v1/") for p in schema["paths"])
    for path in ("/api/v1/register", "/api/v1/verify/{code}", "/api/v1/noncompliance"):
        assert path in schema["paths"]
    assert "ProblemDetails" in schema["components"]["schemas"]
    assert "token" in schema["components"]["securitySchemes"]


def test_swagger_ui_is_served_locally_without_inline_script(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-eval" not in csp
    scripts = page(response).find_all("script")
    assert scripts and all(s.get("src", "").startswith("/") and not s.string for s in scripts)
    for script in scripts:
        assert client.get(script["src"]).status_code == 200
    assert client.get("/api/docs/assets/swagger-ui.css").status_code == 200
