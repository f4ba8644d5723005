"""Errors of the JSON API as RFC 9457 problem details (application/problem+json), in the language
the client asks for with Accept-Language. The HTML pages keep their own error pages: every
handler here answers in JSON only for paths under /api/."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import i18n
from app.db import DATABASE_UNAVAILABLE
from app.errors import Conflict, DomainError, NotFound, TooLarge
from app.i18n import _
from app.storage import StorageFull
from app.web import secure_request, security_headers

log = logging.getLogger(__name__)
PROBLEM_TYPE = "application/problem+json"


class ProblemDetails(BaseModel):
    """An error (RFC 9457). `code` is stable and machine-readable; `title` and `detail` are in the
    language asked for with Accept-Language (Spanish by default)."""

    type: str = Field(description="A URI naming the kind of problem.", examples=["about:blank"])
    title: str
    status: int
    detail: str
    code: str = Field(
        description="Machine-readable: unauthorized, forbidden, not_found, validation_error, "
        "refused, duplicate_establishment, stale_version, already_decided, already_submitted, "
        "already_signed, not_editable, idempotency_key_reused, idempotency_key_in_use, "
        "payload_too_large, report_evidence_limit, rate_limited, method_not_allowed, "
        "service_unavailable, internal_error…"
    )
    errors: dict[str, str] = Field(
        default_factory=dict, description="A message for each field that is wrong, by field name."
    )


class ApiProblem(Exception):
    """Raised by API code to answer with a problem."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        errors: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = errors or {}
        self.headers = headers or {}


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def locale_from(accept_language: str | None) -> str:
    """The supported language the client prefers most (Accept-Language), else Spanish."""
    best, best_q = i18n.DEFAULT_LOCALE, -1.0
    for position, part in enumerate((accept_language or "").split(",")[:20]):
        pieces = part.strip().split(";")
        locale = i18n.normalize_locale(pieces[0].split("-")[0])
        q = 1.0
        for param in pieces[1:]:
            name, _sep, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        # Earlier entries win ties.
        if locale and q > 0 and q - position * 1e-6 > best_q:
            best, best_q = locale, q - position * 1e-6
    return best


def use_request_language(request: Request) -> str:
    locale = locale_from(request.headers.get("accept-language"))
    i18n.set_locale(locale)
    return locale


async def request_language(request: Request) -> str:
    """The API's language for this request (a dependency). Async on purpose: it runs in the request's
    own context, so the language holds for the endpoint (sync dependencies run in a copied one)."""
    return use_request_language(request)


def _titles() -> dict[int, str]:
    return {
        400: _("The request is not right"),
        401: _("A valid API token is needed"),
        403: _("Your account may not do this"),
        404: _("Not found"),
        405: _("Method not allowed"),
        409: _("Conflict with the current state"),
        413: _("Too large"),
        422: _("The data sent is not valid"),
        429: _("Too many requests"),
        500: _("Something went wrong"),
        503: _("The service is not available right now"),
    }


def problem(
    request: Request,
    status: int,
    code: str,
    detail: str,
    errors: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    use_request_language(request)
    body = ProblemDetails(
        type="about:blank",
        title=_titles().get(status, _titles()[500]),
        status=status,
        detail=detail,
        code=code,
        errors=errors or {},
    )
    response = JSONResponse(
        body.model_dump(), status_code=status, media_type=PROBLEM_TYPE, headers=headers
    )
    response.headers["content-language"] = i18n.get_locale()
    response.headers["cache-control"] = "no-store"
    return response


def domain_problem(request: Request, exc: DomainError) -> JSONResponse:
    """A refusal by a service: 409 for a conflict, 413 for too large, 422 for the rest."""
    status = 409 if isinstance(exc, Conflict) else 413 if isinstance(exc, TooLarge) else 422
    errors = {} if exc.field == "form" else {exc.field: exc.message}
    return problem(request, status, exc.code, exc.message, errors)


def validation_errors(exc: RequestValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors():
        location = [str(p) for p in error.get("loc", ())]
        name = ".".join(location[1:]) or (location[0] if location else "body")
        if error.get("type") == "missing":
            message = _("This field is required")
        elif error.get("type") == "json_invalid":
            message = _("The body is not valid JSON")
        elif error.get("type") == "value_error" and error.get("ctx", {}).get("error"):
            message = str(error["ctx"]["error"])
        else:
            message = _("Check this value")
        errors.setdefault(name or "body", message)
    return errors


Handler = Callable[[Request, Any], Awaitable[Response]]


def _api_answer(request: Request, exc: Exception) -> Response | None:
    """The problem for an exception raised under /api/, or None to leave it to the HTML pages."""
    if not is_api(request):
        return None
    if isinstance(exc, ApiProblem):
        return problem(request, exc.status, exc.code, exc.detail, exc.errors, exc.headers)
    if isinstance(exc, DomainError):
        return domain_problem(request, exc)
    if isinstance(exc, NotFound):
        return problem(
            request, 404, "not_found", _("There is nothing here, or you may not see it.")
        )
    if isinstance(exc, RequestValidationError):
        if any(err.get("loc", ("",))[0] == "path" for err in exc.errors()):
            return problem(
                request, 404, "not_found", _("There is nothing here, or you may not see it.")
            )
        return problem(
            request,
            422,
            "validation_error",
            _("Some values are missing or not valid: see errors."),
            validation_errors(exc),
        )
    if isinstance(exc, StarletteHTTPException):
        codes = {
            400: ("bad_request", _("The request could not be read.")),
            404: ("not_found", _("There is nothing here, or you may not see it.")),
            405: ("method_not_allowed", _("This address does not accept this method.")),
            413: ("payload_too_large", _("The request is too large.")),
        }
        code, detail = codes.get(exc.status_code, ("http_error", str(exc.detail)))
        status = exc.status_code if 400 <= exc.status_code < 600 else 500
        return problem(request, status, code, detail, headers=dict(exc.headers or {}))
    if isinstance(exc, StorageFull):
        log.error("storage unavailable: %s", exc)
        return problem(
            request,
            503,
            "service_unavailable",
            _("The file could not be stored right now. Nothing was changed; try again later."),
            headers={"retry-after": "60"},
        )
    if isinstance(exc, DATABASE_UNAVAILABLE):
        log.error("database unavailable: %s", exc)
        return problem(
            request,
            503,
            "service_unavailable",
            _("Try again in a few minutes. Nothing you sent has been lost or saved twice."),
            headers={"retry-after": "30"},
        )
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem(
        request,
        500,
        "internal_error",
        _(
            "Nothing was saved. Try again in a few minutes; if it happens again, contact the portal's administrators."
        ),
    )


def install(app: FastAPI) -> None:
    """Answer errors under /api/ as problem details; every other path keeps its error pages."""
    for exc_class in (ApiProblem, DomainError):
        app.add_exception_handler(exc_class, _only_api(None))  # type: ignore[arg-type]
    for exc_class, handler in list(app.exception_handlers.items()):
        if exc_class in (ApiProblem, DomainError):
            continue
        app.add_exception_handler(exc_class, _only_api(handler))  # type: ignore[arg-type]
    for exc_class in (
        NotFound,
        RequestValidationError,
        StarletteHTTPException,
        *DATABASE_UNAVAILABLE,
        StorageFull,
        Exception,
    ):
        if exc_class not in app.exception_handlers:
            app.add_exception_handler(exc_class, _only_api(None))  # type: ignore[arg-type]
    # Starlette answers an unexpected error outside every middleware (PortalMiddleware included):
    # its security headers are set here, on the problem details and the error page alike.
    app.add_exception_handler(Exception, _with_security_headers(app.exception_handlers[Exception]))


def _with_security_headers(handler: Handler) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        response = await handler(request, exc)
        response.headers.update(security_headers(secure_request(request)))
        return response

    return handle


def _only_api(html_handler: Handler | None) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        answer = _api_answer(request, exc)
        if answer is not None:
            return answer
        if html_handler is None:
            raise exc
        return await html_handler(request, exc)

    return handle
