"""Database engine, the UTC timestamp type, and the per-request session (one commit per request)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import DateTime, Engine, create_engine, event
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session

#: The database is down, restarting or dropped the connection: the person is asked to try again
#: (503). A dead connection is invalidated by SQLAlchemy and the pool's pre-ping replaces it, so
#: the portal recovers by itself when the database is back.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC without a zone (SQLite has none) and hands back zone-aware datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


def make_engine(url: str, *, watch_public_writes: bool = True) -> Engine:
    """The engine; unless told otherwise (the migrations, which run before the register's version
    table exists), every committed write to the public register's tables moves its version on."""
    engine = _engine(url)
    if watch_public_writes:
        from app.register.models import watch_public_writes as watch

        watch(engine)
    return engine


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "savepoint")
        def _sqlite_begin_before_savepoint(conn: Any, _name: str) -> None:
            # pysqlite opens its transaction only before INSERT/UPDATE/DELETE: a SAVEPOINT sent
            # first would itself be the outermost transaction, and its RELEASE would commit the
            # work on its own, before the rest of the request. Beginning here keeps the savepoint
            # nested in the request's transaction, as on PostgreSQL, without starting reads'
            # transactions earlier than pysqlite does.
            dbapi_connection = conn.connection.dbapi_connection
            if not dbapi_connection.in_transaction:
                dbapi_connection.execute("BEGIN")

        return engine
    # A connection attempt to a server that is going away gives up in 10 s rather than hanging a
    # request's thread (the outage page answers instead).
    return create_engine(
        url, pool_pre_ping=True, pool_size=5, max_overflow=10, connect_args={"connect_timeout": 10}
    )


def make_public_engine(engine: Engine) -> Engine:
    """The engine the public register's pages are made on (they only read): on PostgreSQL one of
    its own, whose connections are in autocommit and read-only and are not pinged before each
    use. That spares three of a page's round trips to the server (the ping, BEGIN, ROLLBACK), and
    under load each round trip is also a wait for the interpreter lock (bench/RESULTS-register.md).
    A connection the server dropped fails on its first statement instead, and the page is made
    again on a new one (app/register/cache.py). On SQLite: the same engine."""
    if engine.dialect.name != "postgresql":
        return engine
    return create_engine(
        engine.url,
        pool_size=5,
        max_overflow=10,
        isolation_level="AUTOCOMMIT",
        connect_args={
            "connect_timeout": 10,
            "options": "-c default_transaction_read_only=on",
            "application_name": "portal register",  # as pg_stat_activity shows them
        },
    )


async def get_db(request: Request) -> AsyncIterator[Session]:
    """A session for the request: committed once when the view returns, rolled back on error.

    Mail queued during the request is handed to the mail server only after the commit,
    so nobody is told about a change that was not saved.

    The session is opened on the event loop (that does no I/O) and its end, which does, runs in
    one worker thread; a request that never touched the database (a health check, a constant
    page) costs no thread at all. Measured in bench/register_bench.py: each extra hop to a worker
    thread and back is a wait for the interpreter lock behind every other request's thread.
    """
    session = Session(request.app.state.engine, expire_on_commit=False)
    failed = False
    try:
        yield session
    except BaseException:
        failed = True
        raise
    finally:
        if session.get_transaction() is None and not session.info.get("outbox_pending"):
            session.close()  # nothing was read or written: no connection to give back
        else:
            with anyio.CancelScope(shield=True):  # a commit or rollback is never cut short
                await run_in_threadpool(_finish, request, session, failed)


def _finish(request: Request, session: Session, failed: bool) -> None:
    """Commit (or roll back) and close; then hand queued mail to the mail server."""
    with session:
        if failed:
            session.rollback()
            return
        try:
            session.commit()
        except BaseException:
            session.rollback()
            raise
    if session.info.get("outbox_pending"):
        from app.mail import deliver_pending

        deliver_pending(request.app.state.engine, request.app.state.settings)


# scope="function": commit before the response is sent, so the next page a browser loads sees the change.
DbSession = Annotated[Session, Depends(get_db, scope="function")]
