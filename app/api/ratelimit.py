"""Per-token rate limits: a fixed one-minute window counted in the database, so every worker
process shares the count; and the RateLimit-* headers on every API answer."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Connection, delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.models import ApiRateCounter

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class Quota:
    limit: int
    used: int
    reset: int  # seconds until the window ends

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
            "RateLimit-Policy": f"{self.limit};w={WINDOW_SECONDS}",
        }


def hit(connection: Connection, token_id: int, limit: int, now: float | None = None) -> Quota:
    """Count one request for the token in the current minute (one UPSERT) and say where it stands."""
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    table = ApiRateCounter.__table__  # type: ignore[attr-defined]
    statement = insert(table).values(token_id=token_id, minute=window, count=1)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.token_id, table.c.minute],
        set_={"count": table.c.count + 1},
    ).returning(table.c.count)
    used = int(connection.execute(statement).scalar_one())
    if used == 1:
        # A new minute for this token: forget its earlier ones.
        connection.execute(
            delete(table).where(table.c.token_id == token_id, table.c.minute < window)
        )
    reset = WINDOW_SECONDS - int(now % WINDOW_SECONDS)
    return Quota(limit=limit, used=used, reset=reset)


class RateLimitHeaders:
    """Adds the caller's RateLimit-* headers (worked out by the bearer check) to every API answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith("/api/"):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                quota = scope.get("state", {}).get("quota")
                if isinstance(quota, Quota):
                    headers = list(message.get("headers", []))
                    for name, value in quota.headers().items():
                        headers.append((name.lower().encode(), value.encode()))
                    message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
