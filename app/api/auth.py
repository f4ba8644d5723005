"""Who calls the API: the user of a bearer token (never the session cookie), counted against the
token's rate limit, and the permission checks endpoints declare."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.api import ratelimit, tokens
from app.api.models import ApiToken
from app.api.problems import ApiProblem
from app.auth.models import User
from app.auth.roles import Permission, has_permission
from app.db import DbSession
from app.i18n import _

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="A personal API token (cdc_…), created on the account page or with "
    "`portal tokens create --email E`.",
)


@dataclass
class ApiCaller:
    user: User
    token: ApiToken


def _unauthorized() -> ApiProblem:
    return ApiProblem(
        401,
        "unauthorized",
        _("Send a valid API token in the header Authorization: Bearer <token>."),
        headers={"www-authenticate": 'Bearer realm="api"'},
    )


def api_caller(
    request: Request,
    db: DbSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> ApiCaller:
    """The token's user, or 401; then one request counted against the token (429 over the limit)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized()
    found = tokens.authenticate(db_session=db, token=credentials.credentials)
    if found is None:
        raise _unauthorized()
    token, user = found
    settings = request.app.state.settings
    # Its own short transaction: the count holds even when this request fails, and is seen at once
    # by every other worker process.
    with request.app.state.engine.begin() as connection:
        quota = ratelimit.hit(connection, token.id, settings.api_rate_limit_per_minute)  # type: ignore[arg-type]
        tokens.mark_used(connection, token.id)  # type: ignore[arg-type]
    request.state.quota = quota
    if quota.exceeded:
        raise ApiProblem(
            429,
            "rate_limited",
            _(
                "Too many requests with this token: at most %(limit)s a minute. Try again in %(seconds)s seconds.",
                limit=quota.limit,
                seconds=quota.reset,
            ),
            headers={"retry-after": str(quota.reset)},
        )
    return ApiCaller(user=user, token=token)


Caller = Annotated[ApiCaller, Depends(api_caller)]


def api_require(permission: Permission) -> Callable[[ApiCaller], ApiCaller]:
    """Only callers whose role has `permission` (403 for the others)."""

    def check(caller: Caller) -> ApiCaller:
        if not has_permission(caller.user.role, permission):
            raise ApiProblem(
                403, "forbidden", _("Your account's role may not do this through the API.")
            )
        return caller

    return check


OperatorCaller = Annotated[ApiCaller, Depends(api_require(Permission.MANAGE_OWN_ESTABLISHMENTS))]
ReviewerCaller = Annotated[ApiCaller, Depends(api_require(Permission.REVIEW_REPORTS))]
