"""Rendered public register pages, kept in each worker process's memory, never out of date.

A page is kept under (path and query string, language) for one *generation*: the register version
(app/register/models.py, moved on in the same transaction as every write to public data) and
today's date in Lima (standings change with the calendar too: a deadline or a grace period passes
with no write at all). Each request reads the version (one primary-key read) before anything
else; a new generation empties the cache. So a page served from it is exactly the page that would
be rendered now.

Only anonymous visitors without a flash message are served from it: a signed-in user's page
carries their menu. The one per-visitor part of an anonymous page, the CSRF token of the language
switch, is rendered as a placeholder and put in on the way out.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import date

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from app.clock import today
from app.i18n import get_locale
from app.register.models import register_version
from app.web import FLASH_COOKIE, csrf_token

#: What the pages are rendered with instead of the visitor's CSRF token (never sent out).
CSRF_PLACEHOLDER = "csrf-" + secrets.token_urlsafe(24)
_LONGEST_KEY = 2_000

Key = tuple[str, bytes, str]
Generation = tuple[int, date]


class SharedRead:
    """A value read again for every request, each read shared by the requests that arrived
    before it started (see the module's docstring)."""

    #: Seconds a request waits for another's read before it reads on its own.
    PATIENCE = 0.2

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._reading = False
        self._value = 0
        self._started = -1  # when the read that gave `_value` started (time.monotonic_ns)
        self.reads = 0

    def get(self, read: Callable[[], int]) -> int:
        arrived = time.monotonic_ns()
        give_up = time.monotonic() + self.PATIENCE
        with self._changed:
            while True:
                if self._started > arrived:
                    return self._value
                if not self._reading:
                    self._reading = True
                    started = time.monotonic_ns()
                    break
                remaining = give_up - time.monotonic()
                if remaining <= 0:
                    started = -1  # read on our own, and share nothing
                    break
                self._changed.wait(remaining)
        if started < 0:
            # The shared read is slow (the database is, or the pool is empty): waiting longer
            # could wait on a connection that the waiting requests themselves hold.
            return read()
        value: int | None = None
        try:
            value = read()
            return value
        finally:
            with self._changed:
                self._reading = False
                if value is not None:
                    self._value, self._started = value, started
                    self.reads += 1
                self._changed.notify_all()


class PageCache:
    """A least-recently-used cache of page bodies, bounded by their total size in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.version = SharedRead()
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


def cached_page(
    request: Request, db_session: Session, render: Callable[[str], HTMLResponse]
) -> HTMLResponse:
    """The page `render(csrf_token)` makes for this URL, from the cache when it can be.

    `render` must depend only on the URL, the language and the public data."""
    cache: PageCache | None = getattr(request.app.state, "register_cache", None)
    query = request.scope.get("query_string", b"")
    if (
        cache is None
        or cache.max_bytes <= 0
        or getattr(request.state, "viewer", "unknown") is not None  # signed in, or not known
        or FLASH_COOKIE in request.cookies
        or len(query) > _LONGEST_KEY
    ):
        return render(csrf_token(request))
    # The version first: data read after it is at least as new as the generation it is kept under.
    # It is read on the request's own connection: a request never holds one while waiting for a
    # second, so a busy pool cannot leave requests waiting on each other.
    generation = (cache.version.get(lambda: register_version(db_session)), today())
    key = (request.url.path, query, get_locale())
    body = cache.get(key, generation)
    state = "hit"
    if body is None:
        state = "miss"
        page = render(CSRF_PLACEHOLDER)
        if page.status_code != 200:
            return page
        body = bytes(page.body)
        cache.put(key, generation, body)
    response = HTMLResponse(body.replace(CSRF_PLACEHOLDER.encode(), csrf_token(request).encode()))
    response.headers["cache-control"] = "no-cache"
    response.headers["x-register-cache"] = state
    return response
