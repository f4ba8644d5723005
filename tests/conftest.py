"""Test fixtures: real databases built by the migrations (SQLite and PostgreSQL), a real SMTP server
on loopback, and helpers that read pages the way a person does."""

from __future__ import annotations

import gc
import os
import re
import socket
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from functools import cache
from pathlib import Path

# Before anything reads the settings: the cheapest Argon2 parameters, except in the tests of
# hashing itself (tests/auth/test_passwords.py), which set the production ones.
os.environ.setdefault("PORTAL_PASSWORD_HASH_COST", "minimal")

import pytest  # noqa: E402
from aiosmtpd.controller import Controller
from bs4 import BeautifulSoup
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, make_url, text
from sqlmodel import Session, SQLModel

import app.models  # noqa: F401
from app.config import Settings
from app.main import create_app, dispose_engines, use_settings
from app.migrate import upgrade

SERVER_PG_URL = os.environ.get(
    "PORTAL_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# One database per pytest-xdist worker (test_gw0, test_gw1...), made on the same server.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
PG_URL = (
    make_url(SERVER_PG_URL)
    .set(database=f"{make_url(SERVER_PG_URL).database}_{WORKER}")
    .render_as_string(hide_password=False)
    if WORKER
    else SERVER_PG_URL
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
KEEP_TABLES = {"code_version", "report_form", "alembic_version", "register_version"}


def pytest_collection_finish(session: pytest.Session) -> None:
    """Before the first test: what the process has built (the app, every module, templates) is
    moved out of the garbage collector's sight, and the collector runs less often. Each full
    collection walked all of it: about a tenth of the suite's time (the same fix as `portal
    serve`'s, app/main.py create_served_app)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 50)


def _postgres_reachable(url: str) -> str | None:
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any failure to connect means: not here
        return str(exc).splitlines()[0]


def create_postgres_database(url: str) -> None:
    """Make the database of this URL on its server, unless it is there already."""
    name = make_url(url).database
    admin = create_engine(SERVER_PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        exists = connection.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        ).scalar()
        if not exists:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)],
)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database built by running the migrations, once per backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'portal.db'}"
    else:
        problem = _postgres_reachable(SERVER_PG_URL)
        if problem:
            if IN_CI:
                pytest.fail(f"PostgreSQL must be reachable in CI at {PG_URL}: {problem}")
            pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {problem}")
        create_postgres_database(PG_URL)
        _reset_postgres(PG_URL)
        url = PG_URL
    upgrade(url)
    return url


@dataclass
class Mailbox:
    """What a real SMTP server on loopback received."""

    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    def last_to(self, address: str) -> EmailMessage:
        found = self.to(address)
        assert found, f"no mail to {address}; got {[m['To'] for m in self.messages]}"
        return found[-1]

    @staticmethod
    def body(message: EmailMessage) -> str:
        part = message.get_body(preferencelist=("plain",))
        assert part is not None
        return part.get_content()

    def link_in_last(self, address: str, path_prefix: str) -> str:
        body = self.body(self.last_to(address))
        match = re.search(r"https?://\S+(" + re.escape(path_prefix) + r"\S+)", body)
        assert match, f"no link to {path_prefix} in: {body}"
        return match.group(1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = _free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, port
    controller.stop()


@pytest.fixture
def mailbox(smtp_server: tuple[Mailbox, int]) -> Mailbox:
    box, _ = smtp_server
    box.messages.clear()
    return box


def make_settings(database_url: str, smtp_port: int, base_url: str, tmp: Path) -> Settings:
    return Settings(
        environment="test",
        database_url=database_url,
        base_url=base_url,
        var_dir=tmp,
        mail_backend="smtp",
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
    )


@cache
def _audit_migration():  # type: ignore[no-untyped-def]
    import importlib.util

    path = (
        Path(__file__).resolve().parent.parent
        / "migrations"
        / "versions"
        / "0003_reviews_and_audit.py"
    )
    spec = importlib.util.spec_from_file_location("audit_migration", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _empty_tables(app: FastAPI) -> None:
    """Start each test from an empty portal. The audit log refuses deletes, so its guard is lifted here."""
    with Session(app.state.engine) as session:
        sqlite = session.get_bind().dialect.name == "sqlite"
        if sqlite:
            session.execute(text("DROP TRIGGER IF EXISTS audit_entry_no_update"))
            session.execute(text("DROP TRIGGER IF EXISTS audit_entry_no_delete"))
        else:
            session.execute(text("SET LOCAL session_replication_role = replica"))
        for table in reversed(SQLModel.metadata.sorted_tables):
            if table.name not in KEEP_TABLES:
                session.execute(table.delete())
        if sqlite:
            for statement in _audit_migration()._APPEND_ONLY_SQLITE:
                session.execute(text(statement))
        session.commit()


@pytest.fixture(scope="session")
def shared_app(
    database_url: str, smtp_server: tuple[Mailbox, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FastAPI]:
    """One app per database and worker process: FastAPI prepares its routes and SQLAlchemy its
    statements once, not once per test."""
    settings = make_settings(
        database_url, smtp_server[1], "http://testserver", tmp_path_factory.mktemp("var")
    )
    application = create_app(settings)
    yield application
    dispose_engines(application)


@pytest.fixture
def app(shared_app: FastAPI, mailbox: Mailbox, tmp_path: Path) -> Iterator[FastAPI]:
    """The portal on empty tables, with settings of this test's own (its files in tmp_path)."""
    settings = shared_app.state.settings
    use_settings(
        shared_app,
        make_settings(settings.database_url, settings.smtp_port, settings.base_url, tmp_path),
    )
    _empty_tables(shared_app)
    yield shared_app


@pytest.fixture
def db(app: FastAPI) -> Iterator[Session]:
    with Session(app.state.engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client


# --- reading pages ------


_PARSED: weakref.WeakKeyDictionary[object, BeautifulSoup] = weakref.WeakKeyDictionary()


def page(response) -> BeautifulSoup:  # type: ignore[no-untyped-def]
    """The response's page as a tree, parsed once however many helpers read it."""
    if response not in _PARSED:
        _PARSED[response] = BeautifulSoup(response.text, "html.parser")
    return _PARSED[response]


def csrf_of(client: TestClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    token = page(response).find("input", {"name": "csrf_token"})
    assert token is not None
    return str(token["value"])


def post_form(client: TestClient, path: str, data: dict[str, str], form_page: str | None = None):  # type: ignore[no-untyped-def]
    """Post a form as a browser would: with the CSRF token of the page that shows it."""
    token = csrf_of(client, form_page or path)
    return client.post(path, data={"csrf_token": token, **data})


def error_summary(response) -> list[str]:  # type: ignore[no-untyped-def]
    summary = page(response).select(".error-summary__list li")
    return [li.get_text(" ", strip=True) for li in summary]


def field_error(response, name: str) -> str | None:  # type: ignore[no-untyped-def]
    node = page(response).find(id=f"field-{name}-error")
    return node.get_text(" ", strip=True).replace("Error:", "").strip() if node else None


def field_value(response, name: str) -> str | None:  # type: ignore[no-untyped-def]
    node = page(response).find(attrs={"name": name})
    if node is None:
        return None
    if node.name == "textarea":
        return node.get_text()
    if node.name == "select":
        selected = node.find("option", selected=True)
        return str(selected["value"]) if selected else ""
    return str(node.get("value", ""))


def flash_text(response) -> str:  # type: ignore[no-untyped-def]
    return " ".join(n.get_text(" ", strip=True) for n in page(response).select(".flash"))


# --- people ------

PASSWORD = "Tambopata-Rio-2026"


def make_user(db: Session, email: str, role: str = "operator", regions: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    from app.auth.service import create_user

    user = create_user(
        db_session=db, email=email, password=PASSWORD, role=role, regions=regions, confirmed=True
    )
    db.commit()
    return user


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> None:
    response = post_form(client, "/account/login", {"email": email, "password": password})
    assert response.status_code == 303, error_summary(response)


def valid_ruc(first_ten: str) -> str:
    from app.jurisdiction.peru import ruc_check_digit

    return first_ten + str(ruc_check_digit(first_ten))


def establishment_form(**overrides: str) -> dict[str, str]:
    data = {
        "ruc": valid_ruc("2060412345"),
        "branch_code": "0000",
        "legal_name": "Inversiones Ñusta S.A.C.",
        "trade_name": "Hostal Ñusta",
        "category": "lodging",
        "region": "PE-CUS",
        "province": "Cusco",
        "district": "Cusco",
        "address": "Calle Procuradores 351",
        "website": "https://hostalnusta.pe",
        "phone": "084 251234",
    }
    data.update(overrides)
    return data


def add_establishment(client: TestClient, **overrides: str) -> int:
    response = post_form(client, "/establishments/new", establishment_form(**overrides))
    assert response.status_code == 303, error_summary(response)
    return int(response.headers["location"].rsplit("/", 1)[1])


SIGNATURE = {
    "representative_name": "Rosa Quispe Mamani",
    "document_type": "DNI",
    "document_number": "41234567",
    "accept": "yes",
}


def wait_for(predicate, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def create_open_period(db: Session):  # type: ignore[no-untyped-def]
    """The report on last year, open now, with the deadline 20 days away (committed)."""
    from datetime import timedelta

    from app.clock import today
    from app.reports import service

    now = today()
    period = service.create_period(
        db_session=db,
        data=service.PeriodInput(
            year=now.year - 1,
            opens_on=now - timedelta(days=10),
            deadline=now + timedelta(days=20),
            grace_days=30,
            cutoff_on=now,
        ),
    )
    db.commit()
    return period


@pytest.fixture
def open_period(db):
    """The report on last year, open now, with the deadline 20 days away."""
    return create_open_period(db)


@pytest.fixture
def operator_with_establishment(client, db):
    """Signed in as an operator whose lodging has signed the Code; returns the establishment id."""
    from tests import factories

    return factories.operator_with_signed_establishment(client, db)


__all__ = ["threading"]
