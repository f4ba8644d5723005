"""The API's OpenAPI document (/openapi.json: the /api/v1 routes only, never the HTML pages) and
Swagger UI to browse it (/api/docs), served from the portal itself: no CDN."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from app.api import v1
from app.api.problems import ProblemDetails
from app.i18n import _
from app.web import templates

router = APIRouter(include_in_schema=False)

DESCRIPTION = """\
The JSON API of the portal of the Code of Conduct against the sexual exploitation of children and
adolescents in tourism (Peru). It calls the same rules as the web pages.

* **Public** endpoints need no token.
* Every other endpoint needs a personal API token, created on the account page
  (`/account/tokens`) or with `portal tokens create --email E`, sent as
  `Authorization: Bearer <token>`. A token acts with its user's role and scope, nothing more.
* Errors are problem details (RFC 9457, `application/problem+json`) with a machine-readable
  `code` and an `errors` object by field, in the language of `Accept-Language` (es or en).
* `submit` and `decision` accept an `Idempotency-Key` header: a retried request with the same key
  gets the first answer, and nothing is done twice.
* Each token may make a limited number of requests a minute: see the `RateLimit-*` headers;
  over the limit the answer is 429 with `Retry-After`.
"""


def openapi_schema(app: FastAPI) -> dict[str, Any]:
    """Built once per application, from the API's routes alone."""
    cached = getattr(app.state, "api_openapi", None)
    if cached is None:
        cached = get_openapi(
            title="Código de Conducta ESNNA — API",
            version="1",
            description=DESCRIPTION,
            routes=v1.router.routes,
        )
        schemas = cached.setdefault("components", {}).setdefault("schemas", {})
        schemas["ProblemDetails"] = ProblemDetails.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        app.state.api_openapi = cached
    return cached


@router.get("/openapi.json")
def openapi_json(request: Request) -> JSONResponse:
    return JSONResponse(openapi_schema(request.app))


@router.get("/api/docs")
def api_docs(request: Request) -> HTMLResponse:
    html = templates.get_template("api/docs.html").render(title=_("API documentation"))
    # The portal's own CSP holds here too: Swagger UI 5 sets styles through the DOM (allowed),
    # never as inline markup (tests/browser/test_csp.py).
    return HTMLResponse(html)


def mount_assets(app: FastAPI) -> None:
    # Swagger UI 5 as shipped inside fastapi-offline (only its files are used): version 4, of the
    # swagger-ui-bundle package, cannot read OpenAPI 3.1 and showed an error instead of the API.
    static = Path(importlib.util.find_spec("fastapi_offline").origin).parent / "static"  # type: ignore[arg-type, union-attr]
    app.mount("/api/docs/assets", StaticFiles(directory=static), name="swagger-ui")
