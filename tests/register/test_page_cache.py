"""The register's page cache never shows an old state, never mixes languages or visitors."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from app.clock import today
from app.conduct import service as conduct
from app.db import make_engine
from app.establishments.models import Establishment
from app.imports import service as imports
from app.main import create_app, dispose_engines
from app.register.cache import CSRF_PLACEHOLDER, PageCache, SharedPages, VersionReader
from app.register.models import PUBLIC_TABLES, register_version
from app.reports import service as reports
from app.reports.models import AnnualReport
from tests.conftest import make_user, page, sign_in
from tests.imports.test_imports import DATA
from tests.register.conftest import add_signatory

SEARCH = "/register?q=wiracocha"


@pytest.fixture
def public(client: TestClient) -> TestClient:
    client.cookies.set("portal_lang", "en")
    return client


def _cache(response) -> str:  # type: ignore[no-untyped-def]
    return response.headers.get("x-register-cache", "")


def _reviewer(db: Session):  # type: ignore[no-untyped-def]
    return make_user(db, "revisor@mincetur.gob.pe", role="reviewer", regions=("PE-CUS",))


def _suspend(db: Session, settings, establishment_id: int) -> None:  # type: ignore[no-untyped-def]
    """A reviewer suspends the signature, committed."""
    conduct.change_signature_status(
        db_session=db,
        settings=settings,
        user=_reviewer(db),
        establishment_id=establishment_id,
        action="suspend",
        reason="Denuncia en investigación",
    )
    db.commit()


def _last_years_period(db: Session, deadline: date):  # type: ignore[no-untyped-def]
    """Last year's reporting period, opened 60 days ago, with the deadline given."""
    return reports.create_period(
        db_session=db,
        data=reports.PeriodInput(
            year=today().year - 1,
            opens_on=today() - timedelta(days=60),
            deadline=deadline,
            grace_days=30,
            cutoff_on=today() - timedelta(days=70),
        ),
    )


def test_a_suspension_shows_at_once_on_the_cached_search_and_page(public, db):
    hostal = add_signatory(db, "Hostal Wiracocha")
    entry = f"/register/{hostal.id}"
    for url in (SEARCH, entry):
        assert _cache(public.get(url)) == "miss"
        assert _cache(public.get(url)) == "hit"
    assert "Good standing" in page(public.get(SEARCH)).get_text(" ")

    _suspend(db, public.app.state.settings, hostal.id)

    search = public.get(SEARCH)
    assert _cache(search) == "miss"
    assert "Suspended" in page(search).select_one("table tbody").get_text(" ")
    assert "Good standing" not in page(search).select_one("table tbody").get_text(" ")
    shown = public.get(entry)
    assert _cache(shown) == "miss"
    assert "Suspended" in page(shown).get_text(" ")


def test_a_rename_shows_at_once(public, db):
    hostal = add_signatory(db, "Hostal Wiracocha")
    public.get(SEARCH)
    assert _cache(public.get(SEARCH)) == "hit"
    hostal.trade_name = "Hostal Wiracocha Real"
    db.add(hostal)
    db.commit()
    text = page(public.get(SEARCH)).get_text(" ")
    assert "Hostal Wiracocha Real" in text
    assert "Hostal Wiracocha Real" in page(public.get(f"/register/{hostal.id}")).get_text(" ")


def test_an_approval_shows_at_once(public, db):
    period = _last_years_period(db, deadline=today() - timedelta(days=10))
    hostal = add_signatory(db, "Hostal Wiracocha")
    report = AnnualReport(
        establishment_id=hostal.id, period_id=period.id, state="submitted", content={}
    )
    db.add(report)
    db.commit()
    public.get(SEARCH)
    assert "Pending review" in page(public.get(SEARCH)).select_one("tbody").get_text(" ")

    report.state = "approved"
    db.add(report)
    db.commit()
    assert "Good standing" in page(public.get(SEARCH)).select_one("tbody").get_text(" ")


def test_an_import_by_core_bulk_inserts_shows_at_once(public, db):
    add_signatory(db, "Tambopata Lodge Antiguo")
    url = "/register?q=tambopata"
    public.get(url)
    assert _cache(public.get(url)) == "hit"
    before = page(public.get(url)).get_text(" ")
    assert "Tambopata Expeditions" not in before

    path = DATA / "signatories_utf8_semicolon.csv"
    imports.apply_file(db_session=db, path=path, filename=path.name, actor=None)
    db.commit()

    after = public.get(url)
    assert _cache(after) == "miss"
    assert "Tambopata Expeditions" in page(after).get_text(" ")


def test_a_write_by_another_process_shows_at_once(public, db, app):
    """The command line (or the other worker) writes through its own engine and connection."""
    hostal = add_signatory(db, "Hostal Wiracocha")
    public.get(SEARCH)
    assert _cache(public.get(SEARCH)) == "hit"
    other = make_engine(app.state.settings.database_url)
    try:
        with other.begin() as connection:
            connection.execute(
                Establishment.__table__.update()  # type: ignore[attr-defined]
                .where(Establishment.__table__.c.id == hostal.id)  # type: ignore[attr-defined]
                .values(district="San Blas")
            )
    finally:
        other.dispose()
    shown = public.get(f"/register/{hostal.id}")
    assert _cache(shown) == "miss"
    assert "San Blas" in page(shown).get_text(" ")


def test_writes_that_are_rolled_back_or_private_keep_the_cache(public, db):
    hostal = add_signatory(db, "Hostal Wiracocha")
    version = register_version(db)
    db.commit()
    hostal.trade_name = "Nunca Guardado"
    db.add(hostal)
    db.flush()
    db.rollback()
    make_user(db, "alguien@example.pe")  # accounts are not public data
    assert register_version(db) == version
    db.commit()


def test_the_calendar_moves_standings_without_any_write(public, db, monkeypatch):
    """The deadline passes overnight: the next day's pages are made again."""
    _last_years_period(db, deadline=today())
    db.commit()
    add_signatory(db, "Hostal Wiracocha")
    public.get(SEARCH)
    assert "Good standing" in page(public.get(SEARCH)).select_one("tbody").get_text(" ")
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    monkeypatch.setattr("app.clock.utcnow", lambda: tomorrow)
    later = public.get(SEARCH)
    assert _cache(later) == "miss"
    assert "Overdue" in page(later).select_one("tbody").get_text(" ")


def test_languages_are_kept_apart(client, db):
    add_signatory(db, "Hostal Wiracocha")
    client.cookies.set("portal_lang", "es")
    spanish = [client.get(SEARCH) for _ in range(2)]
    client.cookies.set("portal_lang", "en")
    english = [client.get(SEARCH) for _ in range(2)]
    assert [_cache(r) for r in spanish + english] == ["miss", "hit", "miss", "hit"]
    for response in spanish:
        assert page(response).html["lang"] == "es"
        assert "En regla" in response.text and "Good standing" not in response.text
    for response in english:
        assert page(response).html["lang"] == "en"
        assert "Good standing" in response.text and "En regla" not in response.text


def _csrf(response) -> str:  # type: ignore[no-untyped-def]
    return page(response).find("input", {"name": "csrf_token"})["value"]


def test_each_visitor_gets_their_own_token_and_menu(app, db):
    """Signed-in pages are never cached or served to others; anonymous pages carry each
    visitor's own CSRF token, which works for them."""
    add_signatory(db, "Hostal Wiracocha")
    make_user(db, "operadora@example.pe", role="operator")
    with (
        TestClient(app, follow_redirects=False) as signed,
        TestClient(app, follow_redirects=False) as first,
        TestClient(app, follow_redirects=False) as second,
    ):
        sign_in(signed, "operadora@example.pe")
        mine = signed.get(SEARCH)
        assert _cache(mine) == ""
        assert "/dashboard" in mine.text

        one = first.get(SEARCH)
        two = second.get(SEARCH)
        assert (_cache(one), _cache(two)) == ("miss", "hit")
        for response in (one, two):
            assert "/dashboard" not in response.text
            assert "operadora@example.pe" not in response.text
            assert CSRF_PLACEHOLDER not in response.text
        assert _csrf(one) != _csrf(two)
        assert _csrf(mine) not in one.text + two.text

        # The second visitor's language switch, from the cached page, is accepted.
        switched = second.post(
            "/language", data={"csrf_token": _csrf(two), "lang": "en", "next": SEARCH}
        )
        assert switched.status_code == 303
        assert page(second.get(SEARCH)).html["lang"] == "en"

        # Still signed in, still their own menu, never an anonymous copy.
        again = signed.get(SEARCH)
        assert _cache(again) == "" and "/dashboard" in again.text


def test_a_flash_message_is_never_cached(public, db, app):
    add_signatory(db, "Hostal Wiracocha")
    flash = URLSafeTimedSerializer(app.state.settings.secret_key, salt="flash")
    public.cookies.set("portal_flash", flash.dumps([["success", "Changes saved"]]))
    shown = public.get(SEARCH)
    assert _cache(shown) == ""
    assert "Changes saved" in shown.text
    public.cookies.delete("portal_flash")
    assert [_cache(public.get(SEARCH)) for _ in range(2)] == ["miss", "hit"]
    assert "Changes saved" not in public.get(SEARCH).text


def test_an_unknown_establishment_is_not_cached(public, db):
    for _ in range(2):
        response = public.get("/register/999999")
        assert response.status_code == 404
        assert _cache(response) == ""


def test_the_pages_read_only_public_tables(public, db, app):
    """PUBLIC_TABLES is what the version watches: a table read here but missing there would let
    a change to it go unseen."""
    period = reports.create_period(
        db_session=db,
        data=reports.PeriodInput(
            year=2025,
            opens_on=date(2026, 1, 1),
            deadline=date(2026, 3, 31),
            grace_days=30,
            cutoff_on=date(2025, 12, 31),
        ),
    )
    hostal = add_signatory(db, "Hostal Wiracocha")
    db.add(
        AnnualReport(establishment_id=hostal.id, period_id=period.id, state="approved", content={})
    )
    db.commit()
    read: set[str] = set()

    def note(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        read.update(
            name.lower() for name in re.findall(r'\b(?:FROM|JOIN)\s+"?(\w+)', statement, re.I)
        )

    engines = {app.state.engine, app.state.public_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", note)
    try:
        for url in (
            SEARCH,
            "/register?q=wira+hostal&region=PE-CUS&category=lodging",
            "/register?region=PE-CUS&standing=good_standing",
            f"/register?q={hostal.ruc[:6]}",
            f"/register/{hostal.id}",
        ):
            assert public.get(url).status_code == 200
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", note)
    assert "establishment" in read
    # Besides: who the visitor is (signed-in visitors are never served from the cache). The
    # version itself is read on the cache's own connection, not the engine's.
    assert read - {"user_session", "user_account"} <= PUBLIC_TABLES


def test_the_cache_is_bounded_by_bytes_and_keeps_one_generation():
    cache = PageCache(max_bytes=8_000)
    now = (1, date(2026, 12, 2))
    for n in range(10):
        assert cache.get(("/register", str(n).encode(), "es"), now) is None
        cache.put(("/register", str(n).encode(), "es"), now, b"x" * 1_000)
    assert cache.size <= 8_000
    assert cache.get(("/register", b"0", "es"), now) is None  # the least recently used went
    assert cache.get(("/register", b"9", "es"), now) == b"x" * 1_000
    # A page rendered from an older version is neither served nor kept once a newer one is seen.
    newer = (2, now[1])
    assert cache.get(("/register", b"9", "es"), newer) is None
    cache.put(("/register", b"old", "es"), now, b"old")
    assert cache.get(("/register", b"old", "es"), now) is None
    assert cache.get(("/register", b"old", "es"), newer) is None
    # Too big for its share: not kept.
    cache.put(("/register", b"big", "es"), newer, b"x" * 2_000)
    assert cache.get(("/register", b"big", "es"), newer) is None


def test_no_cache_when_turned_off(public, db, app):
    app.state.register_cache = PageCache(0)
    add_signatory(db, "Hostal Wiracocha")
    assert [_cache(public.get(SEARCH)) for _ in range(2)] == ["", ""]


class _SlowReader(VersionReader):
    """The version reader, with a database that answers only when the test says so."""

    def __init__(self) -> None:
        super().__init__("sqlite:////nonexistent/register.db")
        self.release = asyncio.Event()
        self.values = iter(range(1, 10))

    async def _fetch(self) -> int:
        await self.release.wait()
        return next(self.values)


def test_a_version_read_serves_only_requests_that_arrived_before_it_started():
    """So a write committed before a request came in is always seen by it; and the requests that
    queue up during one read share the next one."""

    async def scenario() -> None:
        reader = _SlowReader()
        reader.PATIENCE = 5.0  # longer than this test's slow read
        first = asyncio.create_task(reader.get())
        await asyncio.sleep(0.01)  # the first read has started
        waiting = [asyncio.create_task(reader.get()) for _ in range(2)]
        await asyncio.sleep(0.05)  # both have arrived while the first read runs
        reader.release.set()
        assert await first == 1
        assert await asyncio.gather(*waiting) == [2, 2]
        assert reader.reads == 2
        assert await reader.get() == 3  # one arriving later reads again

    _run(scenario())


def test_a_request_does_not_wait_long_on_a_stuck_read():
    """A read stuck on the database does not hold the requests: after a short wait each is
    answered without the cache (from the database, by a worker thread)."""

    async def scenario() -> None:
        reader = _SlowReader()
        started = time.monotonic()
        assert await reader.get() is None
        assert time.monotonic() - started < 1
        reader.release.set()
        await asyncio.sleep(0.01)
        assert await reader.get() == 2  # the stuck read gave 1 meanwhile; this one is newer

    _run(scenario())


def test_a_stuck_version_read_still_serves_the_page(public, db, app):
    reader = _SlowReader()
    app.state.register_cache = PageCache(64_000_000, reader)
    add_signatory(db, "Hostal Wiracocha")
    started = time.monotonic()
    shown = public.get(SEARCH)
    assert shown.status_code == 200
    assert "Hostal Wiracocha" in page(shown).select_one("table tbody").get_text(" ")
    assert _cache(shown) == ""  # made without the cache
    assert time.monotonic() - started < 5


def test_the_version_is_read_without_a_worker_thread_or_a_pooled_connection(public, db, app):
    """A page served from the cache takes none of the pool's connections: a busy pool (or a
    database slow to hand one out) cannot hold the cached pages."""
    add_signatory(db, "Hostal Wiracocha")
    assert _cache(public.get(SEARCH)) == "miss"
    checked_out: list[object] = []

    def note(*_args: object) -> None:
        checked_out.append(1)

    engines = {app.state.engine, app.state.public_engine}
    for engine in engines:
        event.listen(engine, "checkout", note)
    try:
        assert _cache(public.get(SEARCH)) == "hit"
    finally:
        for engine in engines:
            event.remove(engine, "checkout", note)
    assert checked_out == []


def test_a_new_period_shows_at_once_on_pages_made_since(public, db):
    """The periods are read once per generation: a period added is a write to public data, so
    the pages made after it count it (the signatory is now overdue)."""
    add_signatory(db, "Hostal Wiracocha")
    add_signatory(db, "Hostal Wiracocha Dos")
    assert "Good standing" in page(public.get(SEARCH)).select_one("tbody").get_text(" ")
    _last_years_period(db, deadline=today() - timedelta(days=10))
    db.commit()
    # Another URL, made for the first time in the new generation, and the one made before.
    for url in (SEARCH + "+dos", SEARCH):
        response = public.get(url)
        assert _cache(response) == "miss"
        assert "Overdue" in page(response).select_one("tbody").get_text(" ")


def test_the_public_pages_are_made_on_read_only_connections(public, db, app):
    """On PostgreSQL the register's pages have an engine of their own (autocommit, no ping):
    whatever it is asked, it cannot write."""
    if app.state.engine.dialect.name != "postgresql":
        assert app.state.public_engine is app.state.engine
        return
    hostal = add_signatory(db, "Hostal Wiracocha")
    assert public.get(f"/register/{hostal.id}").status_code == 200
    with (
        app.state.public_engine.connect() as connection,
        pytest.raises(DBAPIError, match="read-only"),
    ):
        connection.execute(
            text("UPDATE establishment SET trade_name = 'X' WHERE id = :id"), {"id": hostal.id}
        )
    db.expire_all()
    assert db.get(Establishment, hostal.id).trade_name == "Hostal Wiracocha"


def test_a_connection_the_database_dropped_is_replaced_without_an_error(public, db, app):
    """No ping before each use: the page made on a connection the server closed (a restart, an
    idle timeout) is made again on a new one, and the visitor sees it as usual."""
    if app.state.engine.dialect.name != "postgresql":
        pytest.skip("the public pages' own engine is PostgreSQL's")
    first = add_signatory(db, "Hostal Wiracocha")
    second = add_signatory(db, "Hostal Killa")
    assert public.get(f"/register/{first.id}").status_code == 200
    assert app.state.public_engine.pool.checkedin() >= 1
    with app.state.engine.connect() as connection:
        dropped = connection.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'portal register' AND datname = current_database()"
            )
        ).scalar()
    assert dropped >= 1
    response = public.get(f"/register/{second.id}")
    assert response.status_code == 200
    assert page(response).h1.get_text(strip=True) == "Hostal Killa"


def _run(coroutine) -> None:  # type: ignore[no-untyped-def]
    """asyncio.run in a thread of its own (the browser tests keep a loop in the main thread)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coroutine).result(timeout=30)


# --- pages shared by the worker processes ------


@pytest.fixture
def workers(app, tmp_path):  # type: ignore[no-untyped-def]
    """Two workers of one `portal serve`: two apps, each with its own memory, sharing one file."""
    path = tmp_path / "pages.sqlite3"
    SharedPages.create(path)
    settings = app.state.settings.model_copy(update={"register_shared_pages": path})
    apps = [create_app(settings) for _ in range(2)]
    clients = [TestClient(worker) for worker in apps]
    for client in clients:
        client.__enter__()
        client.cookies.set("portal_lang", "en")
    yield clients
    for client, worker in zip(clients, apps, strict=True):
        client.__exit__(None, None, None)
        dispose_engines(worker)


def test_a_page_one_worker_made_is_served_by_the_other(workers, db):
    first, second = workers
    hostal = add_signatory(db, "Hostal Wiracocha")
    entry = f"/register/{hostal.id}"
    for url in (SEARCH, entry):
        assert _cache(first.get(url)) == "miss"
        shared = second.get(url)
        assert _cache(shared) == "shared"  # not made again
        assert _cache(second.get(url)) == "hit"  # and now in this worker's own memory
    assert "Hostal Wiracocha" in page(shared).get_text(" ")
    assert "Good standing" in page(second.get(SEARCH)).get_text(" ")


def test_a_suspension_shows_at_once_in_every_worker(workers, db):
    first, second = workers
    hostal = add_signatory(db, "Hostal Wiracocha")
    for client in workers:
        client.get(SEARCH)
    assert _cache(second.get(SEARCH)) == "hit"

    _suspend(db, first.app.state.settings, hostal.id)

    made = second.get(SEARCH)
    assert _cache(made) == "miss"
    assert "Suspended" in page(made).select_one("table tbody").get_text(" ")
    shared = first.get(SEARCH)
    assert _cache(shared) == "shared"  # the page the other worker made after the suspension
    assert "Suspended" in page(shared).select_one("table tbody").get_text(" ")
    assert "Good standing" not in page(shared).select_one("table tbody").get_text(" ")


def test_each_visitor_gets_their_own_token_from_a_shared_page(workers, db):
    first, second = workers
    add_signatory(db, "Hostal Wiracocha")
    first.get(SEARCH)
    shared = second.get(SEARCH)
    assert _cache(shared) == "shared"
    assert CSRF_PLACEHOLDER not in shared.text
    assert _csrf(shared) and _csrf(shared) != _csrf(first.get(SEARCH))


def test_a_missing_shared_file_costs_only_its_pages(workers, db, tmp_path, caplog):
    first, second = workers
    add_signatory(db, "Hostal Wiracocha")
    (tmp_path / "pages.sqlite3").unlink()
    for client in workers:
        shown = client.get(SEARCH)
        assert shown.status_code == 200
        assert _cache(shown) == "miss"
        assert "Hostal Wiracocha" in page(shown).get_text(" ")
    assert not (tmp_path / "pages.sqlite3").exists()  # not made again, empty, by a worker
    assert "shared register page file" in caplog.text


def test_the_shared_pages_are_bounded_and_of_one_generation(tmp_path):
    path = tmp_path / "pages.sqlite3"
    SharedPages.create(path)
    shared = SharedPages(path, max_bytes=16_000)
    now = (1, date(2026, 12, 2))
    for n in range(40):
        shared.put(("/register", str(n).encode(), "es"), now, b"x" * 1_000)
    with sqlite3.connect(path) as connection:
        (kept,) = connection.execute("SELECT total(length(body)) FROM page").fetchone()
    assert kept <= 16_000 + 1_000  # checked every 1,000 bytes written
    assert shared.get(("/register", b"0", "es"), now) is None  # the oldest went
    assert shared.get(("/register", b"39", "es"), now) == b"x" * 1_000
    assert shared.get(("/register", b"39", "en"), now) is None  # another language
    # Another generation (a write, or the next day in Lima) never gets an older page…
    newer = (2, now[1])
    assert shared.get(("/register", b"39", "es"), newer) is None
    assert shared.get(("/register", b"39", "es"), (1, date(2026, 12, 3))) is None
    # …and the first page kept in it deletes the older generation's pages.
    shared.put(("/register", b"new", "es"), newer, b"new")
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT count(*) FROM page").fetchone() == (1,)
    assert shared.get(("/register", b"new", "es"), newer) == b"new"
    shared.close()
