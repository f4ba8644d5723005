"""The mail server down: the person's action still succeeds, the mail waits in the outbox and is
sent once the server is back (`portal mail flush`), once, even with two flushes racing; a crash
between the server's acceptance and the commit sends it again with the same Message-ID."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import Session

from app.auth.models import User
from app.mail import OutboxMessage, deliver_pending, queue_mail
from app.main import create_app, dispose_engines
from tests.conftest import Mailbox, _empty_tables, _free_port, make_settings, post_form

ROOT = Path(__file__).resolve().parents[2]


class SlowMailbox(Mailbox):
    """A server that takes a moment to accept each message, so two flushes overlap."""

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
        await asyncio.sleep(0.02)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def smtp_port() -> int:
    return _free_port()


@pytest.fixture
def mail_down_app(database_url: str, smtp_port: int, tmp_path: Path) -> Iterator[FastAPI]:
    """The portal, with its mail server (on smtp_port) not running."""
    application = create_app(make_settings(database_url, smtp_port, "http://testserver", tmp_path))
    _empty_tables(application)
    yield application
    dispose_engines(application)


def start_server(port: int, mailbox: Mailbox | None = None) -> tuple[Controller, Mailbox]:
    mailbox = mailbox or Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, mailbox


def portal(database_url: str, smtp_port: int, var_dir: Path, *args: str, code: str | None = None):  # type: ignore[no-untyped-def]
    """Run the portal's command line in its own process, as cron would."""
    env = {
        **os.environ,
        "PORTAL_ENVIRONMENT": "test",
        "PORTAL_DATABASE_URL": database_url,
        "PORTAL_MAIL_BACKEND": "smtp",
        "PORTAL_SMTP_HOST": "127.0.0.1",
        "PORTAL_SMTP_PORT": str(smtp_port),
        "PORTAL_VAR_DIR": str(var_dir),
    }
    command = [sys.executable, "-c", code] if code else [sys.executable, "-m", "app.cli", *args]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def outbox(app: FastAPI) -> list[OutboxMessage]:
    with Session(app.state.engine) as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))  # type: ignore[arg-type]


def test_registering_while_mail_is_down_succeeds_and_the_mail_follows(
    mail_down_app: FastAPI, database_url: str, smtp_port: int, tmp_path: Path
) -> None:
    with TestClient(mail_down_app, follow_redirects=False) as client:
        response = post_form(
            client,
            "/account/register",
            {
                "email": "nina@hostal.pe",
                "password": "Colca-Condor-Vuelo-77",
                "password_confirm": "Colca-Condor-Vuelo-77",
                "privacy": "yes",
            },
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/account/register/sent"
        assert client.get("/account/register/sent").status_code == 200

    with Session(mail_down_app.state.engine) as session:
        assert session.scalars(select(User).where(User.email == "nina@hostal.pe")).one()
    (waiting,) = outbox(mail_down_app)
    assert waiting.sent_at is None and waiting.attempts == 1 and waiting.last_error

    controller, mailbox = start_server(smtp_port)
    try:
        flush = portal(database_url, smtp_port, tmp_path, "mail", "flush")
        out, err = flush.communicate(timeout=60)
        assert flush.returncode == 0, err
        assert "1 message(s) sent." in out
        again = portal(database_url, smtp_port, tmp_path, "mail", "flush")
        out, err = again.communicate(timeout=60)
        assert "0 message(s) sent." in out, err
    finally:
        controller.stop()

    (mail,) = mailbox.to("nina@hostal.pe")
    link = mailbox.link_in_last("nina@hostal.pe", "/account/confirm/")
    with TestClient(mail_down_app, follow_redirects=False) as client:
        assert client.get(link).status_code == 200
    (sent,) = outbox(mail_down_app)
    assert sent.sent_at is not None


def _queue_confirmations(app: FastAPI, count: int) -> None:
    """`count` confirmation mails waiting in the outbox."""
    with Session(app.state.engine) as session:
        for n in range(count):
            queue_mail(
                db_session=session,
                to=f"operador{n}@demo.pe",
                template="confirm_email",
                locale="es",
                context={"link": f"http://testserver/account/confirm/x{n}", "hours": 48},
            )
        session.commit()


def test_two_flushes_racing_send_each_message_once(
    mail_down_app: FastAPI, database_url: str, smtp_port: int, tmp_path: Path
) -> None:
    _queue_confirmations(mail_down_app, 40)

    controller, mailbox = start_server(smtp_port, SlowMailbox())
    try:
        flushes = [portal(database_url, smtp_port, tmp_path, "mail", "flush") for _ in range(2)]
        results = [flush.communicate(timeout=120) for flush in flushes]
    finally:
        controller.stop()
    assert [flush.returncode for flush in flushes] == [0, 0], results
    counts = [int(out.split()[0]) for out, _ in results]
    assert sum(counts) == 40, results
    recipients = sorted(m["To"] for m in mailbox.messages)
    assert recipients == sorted(f"operador{n}@demo.pe" for n in range(40))
    assert all(message.sent_at is not None for message in outbox(mail_down_app))


CRASH_AFTER_ACCEPTANCE = """
import os
import app.mail as mail

original = mail._send

def send_then_crash(email, settings):
    original(email, settings)
    os._exit(9)  # the server said 250 OK; the process dies before marking the message sent

mail._send = send_then_crash
from app.cli import app
app(["mail", "flush"])
"""


def test_a_crash_after_the_server_accepted_sends_again_with_the_same_message_id(
    mail_down_app: FastAPI, database_url: str, smtp_port: int, tmp_path: Path
) -> None:
    with Session(mail_down_app.state.engine) as session:
        queue_mail(
            db_session=session,
            to="rosa@hostal.pe",
            template="confirm_email",
            locale="es",
            context={"link": "http://testserver/account/confirm/abc", "hours": 48},
        )
        session.commit()

    controller, mailbox = start_server(smtp_port)
    try:
        crash = portal(database_url, smtp_port, tmp_path, code=CRASH_AFTER_ACCEPTANCE)
        crash.communicate(timeout=60)
        assert crash.returncode == 9
        assert len(mailbox.to("rosa@hostal.pe")) == 1
        (waiting,) = outbox(mail_down_app)
        assert waiting.sent_at is None  # the claim died with the process: nothing is lost

        for _ in range(2):
            flush = portal(database_url, smtp_port, tmp_path, "mail", "flush")
            _, err = flush.communicate(timeout=60)
            assert flush.returncode == 0, err
    finally:
        controller.stop()

    first, second = mailbox.to("rosa@hostal.pe")
    assert first["Message-ID"] == second["Message-ID"]
    (sent,) = outbox(mail_down_app)
    assert sent.sent_at is not None


def test_a_delivery_stops_at_the_first_unreachable_server(mail_down_app: FastAPI) -> None:
    """Mail waiting from earlier does not make the next person wait once per message."""
    _queue_confirmations(mail_down_app, 5)

    assert deliver_pending(mail_down_app.state.engine, mail_down_app.state.settings) == 0
    assert [m.attempts for m in outbox(mail_down_app)] == [1, 0, 0, 0, 0]
