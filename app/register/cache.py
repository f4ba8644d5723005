"""Rendered public register pages, kept in each worker process's memory, never out of date.

A page is kept under (path and query string, language) for one *generation*: the register version
(app/register/models.py, moved on in the same transaction as every write to public data) and
today's date in Lima (standings change with the calendar too: a deadline or a grace period passes
with no write at all). Each request reads the version (one primary-key read) before anything
else, on the event loop and on a connection of its own (`VersionReader`); a new generation
empties the cache. So a page served from it is exactly the page that would be rendered now, and
serving it takes no worker thread and none of the pool's connections.

Only anonymous visitors without a flash message are served from it: a signed-in user's page
carries their menu. The one per-visitor part of an anonymous page, the CSRF token of the language
switch, is rendered as a placeholder and put in on the way out.

Under `portal serve` the worker processes also share the pages they make (`SharedPages`, a SQLite
file made for that run): a page one worker made is not made again by the others.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from app.clock import today
from app.i18n import get_locale
from app.register.service import GENERATION
from app.web import FLASH_COOKIE, csrf_token

#: What the pages are rendered with instead of the visitor's CSRF token (never sent out).
CSRF_PLACEHOLDER = "csrf-" + secrets.token_urlsafe(24)
_LONGEST_KEY = 2_000

Key = tuple[str, bytes, str]
Generation = tuple[int, date]

log = logging.getLogger(__name__)


class VersionReader:
    """The register version, read on the event loop for the requests waiting there; each read is
    shared by the requests that arrived before it started (see the module's docstring).

    The read never holds a worker thread or one of the pool's connections: PostgreSQL is asked on
    a connection of its own through psycopg's asyncio interface; a SQLite file, on a connection of
    its own too, synchronously (a one-row read of a local file, a few microseconds). `get` gives
    None when no read can be had soon (the database is down or slow, or is in memory): the page
    is then made without the cache.
    """

    #: Seconds a request waits for a read before it does without the cache.
    PATIENCE = 0.2
    _SQL = "SELECT version FROM register_version WHERE id = 1"

    def __init__(self, url: URL | str | None) -> None:
        url = make_url(url) if isinstance(url, str) else url
        self._url = url
        self._value = 0
        self._started = -1  # when the read that gave `_value` started (time.monotonic_ns)
        self._reading: asyncio.Task[None] | None = None
        self._connection: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.reads = 0

    @property
    def usable(self) -> bool:
        url = self._url
        if url is None:
            return False
        if url.get_backend_name() == "sqlite":
            return bool(url.database) and url.database != ":memory:"
        return url.get_backend_name() == "postgresql"

    async def get(self) -> int | None:
        if not self.usable:
            return None
        arrived = time.monotonic_ns()
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop (tests start one per client): start afresh
            self._loop, self._reading, self._connection = loop, None, None
        give_up = loop.time() + self.PATIENCE
        while self._started <= arrived:
            if self._reading is None:
                self._reading = loop.create_task(self._read())
                # A failed read that every waiter gave up on is not logged as never retrieved.
                self._reading.add_done_callback(_retrieve)
            try:
                await asyncio.wait_for(asyncio.shield(self._reading), give_up - loop.time())
            except Exception:  # too slow, or the read failed: do without the cache
                return None
        return self._value

    async def _read(self) -> None:
        started = time.monotonic_ns()
        try:
            value = await self._fetch()
            if started > self._started:
                self._value, self._started = value, started
                self.reads += 1
        finally:
            self._reading = None

    async def _fetch(self) -> int:
        try:
            if self._url.get_backend_name() == "sqlite":  # type: ignore[union-attr]
                if self._connection is None:
                    self._connection = sqlite3.connect(
                        self._url.database,  # type: ignore[union-attr]
                        isolation_level=None,
                        check_same_thread=False,
                        timeout=self.PATIENCE,
                    )
                return int(self._connection.execute(self._SQL).fetchone()[0])
            if self._connection is None or self._connection.closed:
                self._connection = await psycopg.AsyncConnection.connect(
                    self._url.set(drivername="postgresql").render_as_string(hide_password=False),  # type: ignore[union-attr]
                    autocommit=True,
                    connect_timeout=10,
                )
            cursor = await self._connection.execute(self._SQL)
            row = await cursor.fetchone()
            return int(row[0])
        except BaseException:
            await self.close()  # a connection that failed once is not trusted again
            raise

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            result = connection.close()
            if asyncio.iscoroutine(result):
                await result
        except Exception:  # closing a broken connection: nothing left to do
            pass


def _retrieve(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()


class SharedPages:
    """Pages shared by the worker processes of one `portal serve`, in a SQLite file made for that
    run (`portal serve` makes it before the workers start and deletes it when they have stopped).

    A page is kept under its key and the generation it was made in, and found only by a request of
    that same generation, so the rule of the module's docstring holds across processes. Reads are
    on the event loop: one primary-key read of a local file, which in WAL mode never waits for a
    writer (a read that cannot be had at once is a miss). Writes are made by the worker thread that
    made the page; each worker's first write in a new generation deletes the older ones' pages, and
    the oldest pages go when the file holds more than `max_bytes` of them. Any failure of the file
    only costs its pages: the page is made, and served, as without it.
    """

    _SCHEMA = (
        "CREATE TABLE IF NOT EXISTS page (id INTEGER PRIMARY KEY, key BLOB NOT NULL UNIQUE, "
        "version INTEGER NOT NULL, day TEXT NOT NULL, body BLOB NOT NULL)"
    )
    _GET = "SELECT body FROM page WHERE key = ? AND version = ? AND day = ?"
    _PUT = "INSERT OR REPLACE INTO page (key, version, day, body) VALUES (?, ?, ?, ?)"
    _OLDER = "DELETE FROM page WHERE version < ? OR day < ?"

    def __init__(self, path: Path | str, max_bytes: int) -> None:
        self.path = str(path)
        self.max_bytes = max_bytes
        self._reader: sqlite3.Connection | None = None
        self._writer: sqlite3.Connection | None = None
        self._read_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._cleared: Generation | None = None  # the generation whose older pages were deleted
        self._written = 0  # bytes written since the size was last checked
        self._warned = False

    @classmethod
    def create(cls, path: Path) -> None:
        """A new, empty file (before the workers start: they only open it)."""
        path.unlink(missing_ok=True)
        connection = sqlite3.connect(path, isolation_level=None)
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute(cls._SCHEMA)
        finally:
            connection.close()

    def get(self, key: Key, generation: Generation) -> bytes | None:
        with self._read_lock:
            try:
                if self._reader is None:
                    self._reader = self._connect(timeout=0)
                row = self._reader.execute(
                    self._GET, (_encoded(key), generation[0], generation[1].isoformat())
                ).fetchone()
            except sqlite3.Error as error:
                self._reader = self._failed(error, self._reader)
                return None
        return bytes(row[0]) if row else None

    def put(self, key: Key, generation: Generation, body: bytes) -> None:
        if len(body) > self.max_bytes // 8:
            return
        version, day = generation[0], generation[1].isoformat()
        with self._write_lock:
            try:
                if self._writer is None:
                    self._writer = self._connect(timeout=0.5)
                    self._writer.execute("PRAGMA synchronous = OFF")  # a cache: nothing to keep
                writer = self._writer
                try:
                    writer.execute("BEGIN IMMEDIATE")
                    if generation != self._cleared:
                        writer.execute(self._OLDER, (version, day))
                    writer.execute(self._PUT, (_encoded(key), version, day, body))
                    self._written += len(body)
                    if self._written > self.max_bytes // 16:
                        self._shrink(writer)
                    writer.execute("COMMIT")
                    self._cleared = generation
                finally:
                    if writer.in_transaction:
                        writer.execute("ROLLBACK")
            except sqlite3.Error as error:
                self._writer = self._failed(error, self._writer)

    def _shrink(self, writer: sqlite3.Connection) -> None:
        """The oldest pages out, until the pages kept take at most `max_bytes`."""
        self._written = 0
        (total,) = writer.execute("SELECT total(length(body)) FROM page").fetchone()
        excess = total - self.max_bytes
        if excess <= 0:
            return
        last = 0
        for page_id, size in writer.execute("SELECT id, length(body) FROM page ORDER BY id"):
            last = page_id
            excess -= size
            if excess <= 0:
                break
        writer.execute("DELETE FROM page WHERE id <= ?", (last,))

    def _connect(self, timeout: float) -> sqlite3.Connection:
        # mode=rw: a file that is gone is an error, not a new empty file.
        return sqlite3.connect(
            Path(self.path).absolute().as_uri() + "?mode=rw",
            uri=True,
            timeout=timeout,
            isolation_level=None,
            check_same_thread=False,
        )

    def _failed(
        self, error: sqlite3.Error, connection: sqlite3.Connection | None
    ) -> sqlite3.Connection | None:
        """The connection to go on with after `error`: the same one when the other worker was
        only writing (this page is simply not shared this time), otherwise none (opened afresh
        next time)."""
        if getattr(error, "sqlite_errorname", "") in {"SQLITE_BUSY", "SQLITE_LOCKED"}:
            return connection
        if connection is not None:
            connection.close()
        if not self._warned:
            self._warned = True
            log.warning("the shared register page file %s failed: %s", self.path, error)
        return None

    def close(self) -> None:
        with self._read_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None
        with self._write_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None


def _encoded(key: Key) -> bytes:
    path, query, locale = key
    return b"\0".join((path.encode(), query, locale.encode()))


class PageCache:
    """A least-recently-used cache of page bodies, bounded by their total size in bytes; with
    `shared`, backed by the pages the other worker processes made."""

    def __init__(
        self,
        max_bytes: int,
        version: VersionReader | None = None,
        shared: SharedPages | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self.version = version or VersionReader(None)
        self.shared = shared
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._generation: Generation | None = None
        self._pages: OrderedDict[Key, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Key, generation: Generation) -> bytes | None:
        with self._lock:
            if generation != self._generation:
                if self._generation is not None and generation[0] < self._generation[0]:
                    # A request that read the version before a write committed: leave the newer
                    # generation's pages alone.
                    self.misses += 1
                    return None
                self._generation = generation
                self._pages.clear()
                self.size = 0
            body = self._pages.get(key)
            if body is None:
                self.misses += 1
                return None
            self._pages.move_to_end(key)
            self.hits += 1
            return body

    def put(self, key: Key, generation: Generation, body: bytes) -> None:
        if len(body) > self.max_bytes // 8:
            return
        with self._lock:
            if generation != self._generation or key in self._pages:
                return
            self._pages[key] = body
            self.size += len(body)
            while self.size > self.max_bytes:
                _, evicted = self._pages.popitem(last=False)
                self.size -= len(evicted)


async def cached_page(
    request: Request, render: Callable[[Session, str], HTMLResponse]
) -> HTMLResponse:
    """The page `render(db_session, csrf_token)` makes for this URL, from the cache when it can be.

    `render` must depend only on the URL, the language and the public data. It runs in a worker
    thread, on a read-only session of its own that is closed there (so a page made costs one trip
    to a worker thread, not a second one to end the request's session); a page served from the
    cache needs no thread at all.
    """
    cache: PageCache | None = getattr(request.app.state, "register_cache", None)
    query = request.scope.get("query_string", b"")
    generation: Generation | None = None
    if (
        cache is not None
        and cache.max_bytes > 0
        and getattr(request.state, "viewer", "unknown") is None  # not signed in, and known so
        and FLASH_COOKIE not in request.cookies
        and len(query) <= _LONGEST_KEY
    ):
        # The version first: data read after it is at least as new as the generation it is kept
        # under.
        version = await cache.version.get()
        generation = (version, today()) if version is not None else None
    if cache is None or generation is None:
        return await run_in_threadpool(_made, request, render, csrf_token(request))
    key = (request.url.path, query, get_locale())
    body = cache.get(key, generation)
    state = "hit"
    if body is None and cache.shared is not None:
        body = cache.shared.get(key, generation)
        state = "shared"
        if body is not None:
            cache.put(key, generation, body)
    if body is None:
        state = "miss"
        shared = cache.shared
        keep = partial(shared.put, key, generation) if shared is not None else None
        page = await run_in_threadpool(_made, request, render, CSRF_PLACEHOLDER, keep, generation)
        if page.status_code != 200:
            return page
        body = bytes(page.body)
        cache.put(key, generation, body)
    response = HTMLResponse(body.replace(CSRF_PLACEHOLDER.encode(), csrf_token(request).encode()))
    response.headers["cache-control"] = "no-cache"
    response.headers["x-register-cache"] = state
    return response


def _made(
    request: Request,
    render: Callable[[Session, str], HTMLResponse],
    csrf: str,
    keep: Callable[[bytes], None] | None = None,
    generation: Generation | None = None,
) -> HTMLResponse:
    """The page made on a session of its own: public pages only read (nothing to commit). `keep`
    is given the body of a page found (for the other workers), in the same thread. The session
    carries the page's `generation`, so that what pages of one generation all read is read once
    (app/register/service.py, `_PerGeneration`)."""
    for attempt in range(2):
        try:
            with Session(request.app.state.public_engine) as db_session:
                if generation is not None:
                    db_session.info[GENERATION] = generation
                page = render(db_session, csrf)
            break
        except DBAPIError as error:
            # No ping before use (app/db.py, make_public_engine): a connection the database
            # dropped fails here, the pool is emptied, and the page is made on a new connection.
            if attempt or not error.connection_invalidated:
                raise
    if keep is not None and page.status_code == 200:
        keep(bytes(page.body))
    return page
