"""Who is asking: the signed-in user, loaded once per request, and the checks views declare."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from app.auth import service
from app.auth.models import User
from app.auth.roles import Permission, has_permission
from app.db import DbSession
from app.i18n import set_locale


@dataclass(frozen=True)
class Viewer:
    """Who is signed in, as pages show it; a copy that outlives the request's database session."""

    id: int
    email: str
    role: str


class LoginRequired(Exception):
    """Answered with a redirect to the sign-in page, coming back here afterwards."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


class Forbidden(Exception):
    """Signed in, but this role may not do this (answered 403)."""


async def load_user(request: Request, db: DbSession) -> User | None:
    if request.url.path.startswith("/api/"):
        # The JSON API knows callers only by their bearer token (app/api/auth.py), never by the
        # session cookie: so no other site can make a browser act through it (no CSRF there).
        request.state.viewer = None
        return None
    if getattr(request.state, "new_sid", False) or not request.state.signed_in_sid:
        # A visitor without a session cookie (a first visit, a crawler), or with one that sign-in
        # never gave: nobody is signed in. Answered on the event loop, with no database lookup:
        # most public requests need no worker thread for this.
        request.state.viewer = None
        return None
    user = await run_in_threadpool(
        service.user_for_session,
        db_session=db,
        settings=request.app.state.settings,
        sid=request.state.sid,
    )
    request.state.viewer = Viewer(user.id, user.email, user.role) if user and user.id else None  # type: ignore[arg-type]
    if user is not None and request.state.cookie_locale is None:
        set_locale(user.locale)  # here, in the request's own context (a thread's is a copy)
    return user


CurrentUser = Annotated[User | None, Depends(load_user)]


def require_user(request: Request, user: CurrentUser) -> User:
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target if request.method == "GET" else request.url.path)
    return user


SignedInUser = Annotated[User, Depends(require_user)]


def require(permission: Permission) -> Callable[[User], User]:
    """A dependency that lets through only users whose role has `permission`."""

    def check(user: SignedInUser) -> User:
        if not has_permission(user.role, permission):
            raise Forbidden()
        return user

    return check
