"""create_app(): routers, error pages, static files."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from app import pages
from app.api import account_views as api_account_views
from app.api import docs as api_docs
from app.api import setup as api_setup
from app.api import v1 as api_v1
from app.audit import views as audit_views
from app.auth import admin_views as staff_admin_views
from app.auth import views as auth_views
from app.auth.dependencies import Forbidden, LoginRequired, load_user
from app.certificates import views as certificate_views
from app.claims import views as claim_views
from app.conduct import views as conduct_views
from app.config import ROOT, Settings, get_settings
from app.dashboard import views as dashboard_views
from app.db import DATABASE_UNAVAILABLE, make_engine, make_public_engine
from app.errors import NotFound
from app.establishments import views as establishment_views
from app.i18n import _
from app.imports import views as import_views
from app.noncompliance import views as noncompliance_views
from app.opendata import views as opendata_views
from app.register import views as register_views
from app.register.cache import PageCache, SharedPages, VersionReader
from app.reports import admin_views as period_admin_views
from app.reports import views as report_views
from app.reviews import views as review_views
from app.storage import LocalStorage, StorageFull
from app.web import PortalMiddleware, login_url, render

log = logging.getLogger(__name__)


ROUTERS: tuple[APIRouter, ...] = (
    pages.router,
    # The public register gets most of the traffic, and a request is matched against the routes
    # in this order (each one tried in turn): its pages come right after the health checks.
    register_views.router,
    auth_views.router,
    # Before the establishments' routes: /establishments/claim is not an establishment id.
    claim_views.router,
    establishment_views.router,
    conduct_views.router,
    opendata_views.router,
    report_views.router,
    period_admin_views.router,
    staff_admin_views.router,
    dashboard_views.router,
    audit_views.router,
    review_views.router,
    certificate_views.router,
    import_views.router,
    noncompliance_views.router,
    api_account_views.router,
    api_v1.router,
    api_docs.router,
)


def route_table() -> list[APIRoute]:
    """Every page and action of the portal (the access tests walk this list)."""
    return [route for router in ROUTERS for route in router.routes if isinstance(route, APIRoute)]


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    cache = app.state.register_cache
    await cache.version.close()
    if cache.shared is not None:
        cache.shared.close()
    _dispose_public_engine(app)


def dispose_engines(app: FastAPI) -> None:
    """Every connection the app holds closed (its pools are made again if it is used after)."""
    app.state.engine.dispose()
    _dispose_public_engine(app)


def _dispose_public_engine(app: FastAPI) -> None:
    if app.state.public_engine is not app.state.engine:  # on SQLite, the same engine
        app.state.public_engine.dispose()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        lifespan=_lifespan,
        title="Código de Conducta ESNNA",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(load_user)],
    )
    app.state.engine = make_engine(settings.database_url)
    app.state.public_engine = make_public_engine(app.state.engine)
    use_settings(app, settings)

    app.mount("/static", StaticFiles(directory=ROOT / "app" / "static"), name="static")
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(PortalMiddleware, secure_cookies=settings.secure_cookies)
    _add_error_pages(app)
    api_setup.install(app)
    return app


def use_settings(app: FastAPI, settings: Settings) -> None:
    """Run the app with these settings, and a file storage and a register page cache made anew
    from them; its engines (and so its database URL), routes and middleware are kept.

    create_app() starts here; the test suite comes back here to give each test its own settings
    and files on one app per database, whose routes and statements are prepared once.
    """
    app.state.settings = settings
    app.state.storage = LocalStorage(settings.evidence_dir)
    shared = settings.register_shared_pages
    app.state.register_cache = PageCache(
        settings.register_cache_bytes,
        VersionReader(app.state.engine.url),
        SharedPages(shared, settings.register_cache_bytes) if shared else None,
    )


def create_served_app() -> FastAPI:
    """The app as `portal serve` runs it in each worker process.

    Everything built at start-up (the app, its modules, templates, translations: most of the
    heap, and none of it ever garbage) is moved out of the garbage collector's sight. Otherwise
    each full collection walks it all, and a request caught behind one waited 200 ms or more
    (bench/register_bench.py: p99 of a cached register page 248 ms, and 22 ms with this).
    """
    app = create_app()
    gc.collect()
    gc.freeze()
    return app


def error_page(request: Request, status_code: int) -> HTMLResponse:
    titles = {
        400: (
            _("Something in the request is not right"),
            _("Go back, check what you entered and try again."),
        ),
        403: (
            _("You cannot see this page"),
            _(
                "Your account does not have access to this page. If you think it should, contact the portal's administrators."
            ),
        ),
        404: (
            _("Page not found"),
            _("Check the web address. If you followed a link, it may be out of date."),
        ),
        405: (
            _("Page not found"),
            _("Check the web address. If you followed a link, it may be out of date."),
        ),
        503: (
            _("The service is not available right now"),
            _("Try again in a few minutes. Nothing you sent has been lost or saved twice."),
        ),
        500: (
            _("Sorry, something went wrong"),
            _(
                "Nothing was saved. Try again in a few minutes; if it happens again, contact the portal's administrators."
            ),
        ),
    }
    title, message = titles.get(status_code, titles[500])
    response = render(
        request, "errors/error.html", {"title": title, "message": message}, status_code=status_code
    )
    if status_code == 503:
        response.headers["retry-after"] = "30"
    return response


def _add_error_pages(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> RedirectResponse:
        return RedirectResponse(login_url(exc.next_url), status_code=303)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> HTMLResponse:
        return error_page(request, 403)

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> HTMLResponse:
        return error_page(request, 404)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> HTMLResponse:
        return error_page(
            request, exc.status_code if exc.status_code in (400, 403, 404, 405, 503) else 500
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> HTMLResponse:
        # Malformed ids or query parameters in a URL: a 404 for paths, a 400 for the rest.
        in_path = any(err.get("loc", ("",))[0] == "path" for err in exc.errors())
        return error_page(request, 404 if in_path else 400)

    async def _database_down(request: Request, exc: Exception) -> HTMLResponse:
        log.error("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return error_page(request, 503)

    for exc_class in DATABASE_UNAVAILABLE:
        app.add_exception_handler(exc_class, _database_down)  # type: ignore[arg-type]

    @app.exception_handler(StorageFull)
    async def _storage_full(request: Request, exc: StorageFull) -> HTMLResponse:
        # A certificate PDF that could not be kept (var/ full or read-only): the whole change
        # (an approval, a re-issue) is rolled back; evidence uploads say so on their own form.
        log.error("storage unavailable on %s %s: %s", request.method, request.url.path, exc)
        return error_page(request, 503)

    @app.exception_handler(ClientDisconnect)
    async def _client_gone(request: Request, exc: ClientDisconnect) -> Response:
        # The client closed the connection before sending the whole request (a browser tab closed
        # mid-upload): nothing was read, nothing is saved, and nobody is left to answer.
        log.info("client disconnected during %s %s", request.method, request.url.path)
        return Response(status_code=400)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> HTMLResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        # Answered outside PortalMiddleware: app/api/problems.py install() adds the headers.
        return error_page(request, 500)
