"""What every HTML page shares: templates, language, flash messages, CSRF and the one form helper."""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from http.cookies import SimpleCookie
from typing import Annotated, Any, ClassVar, TypeVar
from urllib.parse import quote, urlencode, urlsplit

from babel.dates import format_date, format_time
from fastapi import Depends, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import i18n
from app.auth.models import SIGNED_IN_SID_MARK
from app.clock import LIMA
from app.config import ROOT
from app.i18n import _
from app.jurisdiction import current_scheme

SESSION_COOKIE = "portal_sid"
LANG_COOKIE = "portal_lang"
FLASH_COOKIE = "portal_flash"
CSRF_FIELD = "csrf_token"
CSRF_MAX_AGE = 8 * 3600

templates = Environment(
    loader=FileSystemLoader(ROOT / "templates"),
    autoescape=select_autoescape(["html", "xml"]),
    undefined=StrictUndefined,
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
templates.globals.update(
    get_locale=i18n.get_locale, localized=i18n.localized, LOCALE_NAMES=i18n.LOCALE_NAMES
)


def template_filter(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        templates.filters[name] = func
        return func

    return register


def template_global(func: Callable[..., Any]) -> Callable[..., Any]:
    templates.globals[func.__name__] = func
    return func


# --- per-request cookies: the anonymous/signed-in session id and the language --------------------


class PortalMiddleware:
    """Gives every visitor a random session id cookie, sets the page language, adds security headers.

    Nothing is kept in process memory between requests: the session id is only a key into the
    database (for signed-in users) and the base of the CSRF token.
    """

    def __init__(self, app: ASGIApp, secure_cookies: bool) -> None:
        self.app = app
        self.secure = secure_cookies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        secure = self.secure or scope.get("scheme") == "https"
        if b"%00" in scope.get("query_string", b"").lower() or "\x00" in scope.get("path", ""):
            if scope.get("path", "").startswith("/api/"):
                await _plain_response(
                    send,
                    400,
                    '{"type":"about:blank","title":"Bad request","status":400,"code":"bad_request",'
                    '"detail":"The address contains a NUL character.","errors":{}}',
                    "application/problem+json",
                    secure,
                )
                return
            await _plain_response(
                send, 400, "Bad request: the address contains a NUL character.", secure=secure
            )
            return
        cookies = _read_cookies(scope)
        sid = cookies.get(SESSION_COOKIE, "")
        signed_in = sid.startswith(SIGNED_IN_SID_MARK)
        new_sid = len(sid) != (len(SIGNED_IN_SID_MARK) + 43 if signed_in else 43)
        if new_sid:
            sid = secrets.token_urlsafe(32)
        state = scope.setdefault("state", {})
        state["sid"] = sid
        #: minted for this request: no signed-in session can have it (no lookup needed)
        state["new_sid"] = new_sid
        #: a session id of the kind given at sign-in (any other is an anonymous visitor's)
        state["signed_in_sid"] = signed_in and not new_sid
        state["cookie_locale"] = i18n.normalize_locale(cookies.get(LANG_COOKIE))
        i18n.set_locale(state["cookie_locale"] or i18n.DEFAULT_LOCALE)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if new_sid and state.get("sid") == sid:
                    headers.append((b"set-cookie", session_cookie(sid, secure).encode()))
                for name, value in security_headers(secure).items():
                    if not any(h[0].lower() == name.encode() for h in headers):
                        headers.append((name.encode(), value.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _plain_response(
    send: Send,
    status: int,
    text: str,
    content_type: str = "text/plain; charset=utf-8",
    secure: bool = False,
) -> None:
    headers = [(b"content-type", content_type.encode())]
    headers += [(k.encode(), v.encode()) for k, v in security_headers(secure).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": text.encode()})


def _read_cookies(scope: Scope) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed cookie header is treated as no cookie
                continue
    return {key: morsel.value for key, morsel in jar.items()}


def session_cookie(sid: str, secure: bool) -> str:
    cookie = f"{SESSION_COOKIE}={sid}; Path=/; HttpOnly; SameSite=Lax"
    return cookie + ("; Secure" if secure else "")


def security_headers(secure: bool) -> dict[str, str]:
    headers = {
        "content-security-policy": (
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        ),
        "x-content-type-options": "nosniff",
        "referrer-policy": "same-origin",
        "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=()",
        "x-frame-options": "DENY",
    }
    if secure:
        headers["strict-transport-security"] = "max-age=31536000; includeSubDomains"
    return headers


def secure_request(request: Request) -> bool:
    """Whether cookies and headers are those of https (the portal's base URL, or this request)."""
    return request.app.state.settings.secure_cookies or request.url.scheme == "https"


def set_session_id(request: Request, response: RedirectResponse | HTMLResponse, sid: str) -> None:
    """Hand the browser a new session id (at sign-in and sign-out)."""
    request.state.sid = sid
    response.headers.append("set-cookie", session_cookie(sid, secure_request(request)))


def set_language_cookie(request: Request, response: Response, locale: str) -> None:
    """Remember the language for a year (HttpOnly: no script reads it; Secure over https)."""
    response.set_cookie(
        LANG_COOKIE,
        locale,
        max_age=365 * 24 * 3600,
        path="/",
        httponly=True,
        secure=secure_request(request),
        samesite="lax",
    )


# --- CSRF ------


def _csrf_serializer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(request.app.state.settings.secret_key, salt="csrf")


def _sid_digest(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()[:32]


def csrf_token(request: Request) -> str:
    return _csrf_serializer(request).dumps(_sid_digest(request.state.sid))


def csrf_valid(request: Request, token: str | None) -> bool:
    if not token:
        return False
    try:
        value = _csrf_serializer(request).loads(token, max_age=CSRF_MAX_AGE)
    except (BadSignature, SignatureExpired):
        return False
    return secrets.compare_digest(str(value), _sid_digest(request.state.sid))


async def read_form(request: Request) -> FormData:
    """The posted form, for every view that changes state."""
    return await request.form()


PostedForm = Annotated[FormData, Depends(read_form)]

#: A record id in a URL: anything else (letters, zero, a number too big for the database) is a 404.
RecordId = Annotated[int, Path(ge=1, le=2**31 - 1)]


# --- the form helper ------


class FormModel(BaseModel):
    """An HTML form: every field arrives as text, trimmed; validators raise ValueError(message)."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")

    #: fields never echoed back into the page (passwords).
    secret_fields: ClassVar[frozenset[str]] = frozenset()


@dataclass
class FormState:
    """What a form shows: the values typed (kept on error) and one message per field."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def has_errors(self) -> bool:
        return bool(self.errors)

    def add_error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)

    def value(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)


M = TypeVar("M", bound=FormModel)


def form_state(values: Mapping[str, Any] | None = None) -> FormState:
    return FormState(values={k: "" if v is None else str(v) for k, v in (values or {}).items()})


def validate_form(request: Request, model: type[M], posted: FormData) -> tuple[M | None, FormState]:
    """Check the CSRF token and validate the posted fields into `model`.

    Returns the model (None when anything is wrong) and the state to show again on the page.
    """
    names = list(model.model_fields)
    raw: dict[str, Any] = {}
    for name in names:
        value = posted.get(name)
        raw[name] = "" if value is None or isinstance(value, UploadFile) else value
    secret = model.secret_fields
    state = FormState(values={k: str(v).strip() for k, v in raw.items() if k not in secret})
    if not check_csrf(request, posted):
        state.add_error("form", csrf_error_message())
        return None, state
    for name, value in raw.items():
        if "\x00" in value:
            # No database stores a NUL character in text; it only ever arrives by accident or attack.
            state.add_error(name, _("Remove the special characters from this field"))
    if state.has_errors:
        return None, state
    try:
        return model.model_validate(raw), state
    except ValidationError as exc:
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "form"
            if error["type"] == "value_error":
                message = str(error["ctx"]["error"])
            else:
                message = _("Check this value")
            state.add_error(name, message)
        return None, state


def csrf_error_message() -> str:
    return _(
        "This form had expired or did not come from this portal, so nothing was saved. "
        "Check the details and send it again."
    )


def check_csrf(request: Request, posted: FormData) -> bool:
    token = posted.get(CSRF_FIELD)
    return csrf_valid(request, token if isinstance(token, str) else None)


# --- field rules shared by forms ------


def required(value: str, message: str) -> str:
    if not value:
        raise ValueError(message)
    return value


def max_length(value: str, limit: int) -> str:
    if len(value) > limit:
        raise ValueError(
            _(
                "Enter at most %(limit)s characters (you entered %(count)s)",
                limit=limit,
                count=len(value),
            )
        )
    return value


# Characters that reorder the text around them: in a name they make it read otherwise than it is.
BIDI_CONTROLS = frozenset("\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def single_line(value: str) -> str:
    """No line break of any kind (every separator of str.splitlines), control character or
    bidirectional control in a one-line field: they only ever arrive by mistake or malice."""
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") or c in BIDI_CONTROLS for c in value):
        raise ValueError(_("Remove line breaks and special characters from this field"))
    return value


# --- rendering and redirects ------


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """Render a page. Flash messages set by the previous redirect are shown once."""
    flashes = _read_flashes(request)
    page = {
        "request": request,
        "current_user": getattr(request.state, "viewer", None),
        "csrf_token": csrf_token(request),
        "flashes": flashes,
        "form": FormState(),
        "page_url": page_url_for(request),
        **(context or {}),
    }
    response = HTMLResponse(templates.get_template(template).render(page), status_code=status_code)
    if flashes:
        response.delete_cookie(
            FLASH_COOKIE, path="/", httponly=True, secure=secure_request(request), samesite="lax"
        )
    response.headers["cache-control"] = "no-store" if page["current_user"] else "no-cache"
    return response


def redirect(
    request: Request, url: str, *, flash: str | None = None, kind: str = "success"
) -> RedirectResponse:
    """POST, then redirect (303) with an optional message for the next page."""
    response = RedirectResponse(url, status_code=303)
    if flash:
        value = _flash_serializer(request).dumps([[kind, flash]])
        response.set_cookie(
            FLASH_COOKIE,
            value,
            path="/",
            httponly=True,
            secure=secure_request(request),
            samesite="lax",
        )
    return response


def _flash_serializer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(request.app.state.settings.secret_key, salt="flash")


def _read_flashes(request: Request) -> list[tuple[str, str]]:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return []
    try:
        return [tuple(item) for item in _flash_serializer(request).loads(raw, max_age=600)]  # type: ignore[misc]
    except (BadSignature, SignatureExpired, TypeError, ValueError):
        return []


def safe_next(url: str | None, default: str = "/") -> str:
    """A local path to go back to; anything pointing elsewhere becomes the default."""
    if not url:
        return default
    parts = urlsplit(url)
    if (
        parts.scheme
        or parts.netloc
        or not url.startswith("/")
        or url.startswith("//")
        or "\\" in url
    ):
        return default
    return url


def login_url(next_url: str) -> str:
    return "/account/login?next=" + quote(safe_next(next_url), safe="/")


# --- filters the templates use ------


@template_filter("date_long")
def date_long(value: date | datetime) -> str:
    if isinstance(value, datetime):
        value = value.astimezone(LIMA).date()
    return _date_long(value, i18n.get_locale())


@lru_cache(maxsize=8192)
def _date_long(value: date, locale: str) -> str:
    """Babel's formatting costs ~50 µs; a page of the register shows 20 dates."""
    return format_date(value, format="long", locale=locale)


@template_filter("datetime_local")
def datetime_local(value: datetime) -> str:
    """A moment in Peru's time, which is what operators and reviewers read."""
    local = value.astimezone(LIMA)
    day = format_date(local.date(), format="long", locale=i18n.get_locale())
    return f"{day}, {format_time(local, 'HH:mm', locale=i18n.get_locale())} (PET)"


@template_filter("category_name")
def category_name(code: str) -> str:
    category = current_scheme().category(code)
    return i18n.localized(category.name) if category else code


@template_filter("region_name")
def region_name(code: str) -> str:
    region = current_scheme().region(code)
    return region.name if region else code


@template_filter("category_option")
def category_option(category: Any) -> tuple[str, str]:
    return category.code, i18n.localized(category.name)


@template_filter("region_option")
def region_option(region: Any) -> tuple[str, str]:
    return region.code, region.name


@template_filter("document_option")
def document_option(document_type: Any) -> tuple[str, str]:
    return document_type.code, i18n.localized(document_type.name)


@lru_cache(maxsize=1024)
def option_tags(options: tuple[tuple[str, str], ...], selected: str) -> Markup:
    """The <option>s of a select, rendered once for each list and choice (for long lists shown on
    busy pages: the `select` macro's `options_html`). `options`: (value, text already translated)."""
    return Markup("\n").join(
        Markup('<option value="{}"{}>{}</option>').format(
            value, Markup(" selected") if value == selected else "", text
        )
        for value, text in options
    )


def page_url_for(request: Request) -> Callable[[int], str]:
    """Links to other pages of a list, keeping the other query parameters."""

    def page_url(page: int) -> str:
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]
        return request.url.path + "?" + urlencode([*params, ("page", str(page))])

    return page_url


def spreadsheet_cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text and never runs as a formula: text starting with
    = + - @ (or a tab or carriage return) gets an apostrophe first; None is empty."""
    text = "" if value is None else value.isoformat() if isinstance(value, date) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
