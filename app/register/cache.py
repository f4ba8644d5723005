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
"""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import date
from typing import Any

import psycopg
from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from sqlalchemy.engine import URL, make_url
from sqlmodel import Session

from app.clock import today
from app.i18n import get_locale
from app.web import FLASH_COOKIE, csrf_token

#: What the pages are rendered with instead of the visitor's CSRF token (never sent out).
CSRF_PLACEHOLDER = "csrf-" + secrets.token_urlsafe(24)
_LONGEST_KEY = 2_000

Key = tuple[str, bytes, str]
Generation = tuple[int, date]


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


class PageCache:
    """A least-recently-used cache of page bodies, bounded by their total size in bytes."""

    def __init__(self, max_bytes: int, version: VersionReader | None = None) -> None:
        self.max_bytes = max_bytes
        self.version = version or VersionReader(None)
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
    if body is None:
        state = "miss"
        page = await run_in_threadpool(_made, request, render, CSRF_PLACEHOLDER)
        if page.status_code != 200:
            return page
        body = bytes(page.body)
        cache.put(key, generation, body)
    response = HTMLResponse(body.replace(CSRF_PLACEHOLDER.encode(), csrf_token(request).encode()))
    response.headers["cache-control"] = "no-cache"
    response.headers["x-register-cache"] = state
    return response


def _made(
    request: Request, render: Callable[[Session, str], HTMLResponse], csrf: str
) -> HTMLResponse:
    """The page made on a session of its own: public pages only read (nothing to commit)."""
    with Session(request.app.state.engine) as db_session:
        return render(db_session, csrf)
