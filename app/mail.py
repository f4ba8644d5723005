"""Outgoing mail: queued in the outbox table with the change it reports, sent after the commit.

What is guaranteed (docs/security.md, "Faults and recovery"):

- No mail is lost: it is written in the transaction of the change it reports, and stays in the
  outbox until a server has accepted it. One that could not be sent waits for the next delivery
  (after the next request that queues mail, or `portal mail flush`, e.g. from cron).
- Never sent twice by two deliveries at once (two workers, two `portal mail flush`): a delivery
  claims the message with an UPDATE that sets `sent_at`, holds that row lock while it talks to the
  server, and commits after the server's "250 OK". A second delivery waits for the lock, then sees
  `sent_at` set and skips the message; if the first failed, it rolled back and the second sends.
- One message can never hold up the others: every header is made one line of printable text
  (header_text), and a message that cannot be sent for any reason other than the server is left
  with its error and the next one is sent.
- The one window left: a crash (or a lost database connection) after the server accepted the
  message and before the commit. The claim is rolled back and the message is sent again on the next
  delivery: at least once, not exactly once, because we prefer a duplicate confirmation link to a
  lost one. Both copies carry the same Message-ID (made from the outbox row), so mail clients and
  servers that de-duplicate by Message-ID show it once.
"""

from __future__ import annotations

import logging
import smtplib
import unicodedata
from datetime import datetime
from email.message import EmailMessage
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template
from sqlalchemy import Engine, LargeBinary, select, update
from sqlmodel import Field, Session, SQLModel

from app import i18n
from app.config import ROOT, Settings
from app.db import UTCDateTime, utcnow
from app.web import templates as web_templates

log = logging.getLogger(__name__)

_mail_templates = Environment(
    loader=FileSystemLoader(ROOT / "templates" / "mail"),
    autoescape=False,
    undefined=StrictUndefined,
    extensions=["jinja2.ext.i18n"],
    keep_trailing_newline=True,
)
_mail_templates.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
# Mails format dates and names as pages do: the same filters, shared.
_mail_templates.filters = web_templates.filters


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox_message"

    id: int | None = Field(default=None, primary_key=True)
    to_address: str = Field(max_length=254)
    subject: str = Field(max_length=300)
    body: str
    attachment_name: str | None = Field(default=None, max_length=200)
    attachment_type: str | None = Field(default=None, max_length=100)
    attachment: bytes | None = Field(default=None, sa_type=LargeBinary)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, max_length=500)


SUBJECT_MAX = 300


def header_text(value: str, limit: int = SUBJECT_MAX) -> str:
    """Any text as the value of a mail header: one line, no control or format characters.

    Every line separator of str.splitlines (U+2028, U+0085, form feed...) and every control
    character becomes a space, invisible format characters (bidirectional overrides, zero
    widths) are dropped, runs of spaces are one, and the value is cut to `limit` characters.
    """
    kept = []
    for character in value:
        category = unicodedata.category(character)
        if category in ("Cc", "Zl", "Zp") or character.isspace():
            kept.append(" ")
        elif category != "Cf":
            kept.append(character)
    return " ".join("".join(kept).split())[:limit]


@cache
def _subject_and_body(template: str) -> tuple[Template, Template]:
    """The first line of templates/mail/<template>.txt and the rest, made apart: a line break in
    a value (a name) cannot push the subject's end into the body."""
    source, _filename, _uptodate = _mail_templates.loader.get_source(  # type: ignore[union-attr]
        _mail_templates, f"{template}.txt"
    )
    subject, _, body = source.partition("\n")
    return _mail_templates.from_string(subject), _mail_templates.from_string(body)


def queue_mail(
    *,
    db_session: Session,
    to: str,
    template: str,
    locale: str,
    context: dict[str, object],
    attachment: tuple[str, str, bytes] | None = None,
) -> OutboxMessage:
    """Render templates/mail/<template>.txt in the recipient's language and put it in the outbox.

    The first line of the template is the subject.
    """
    subject, body = _subject_and_body(template)
    with i18n.use_locale(locale):
        message = OutboxMessage(
            to_address=to,
            subject=header_text(subject.render(**context)),
            body=body.render(**context).lstrip("\n"),
        )
    if attachment:
        message.attachment_name, message.attachment_type, message.attachment = attachment
    db_session.add(message)
    db_session.info["outbox_pending"] = True
    return message


def message_id(message: OutboxMessage) -> str:
    """The same for every attempt at one outbox message, so a resent copy can be recognised."""
    stamp = message.created_at.strftime("%Y%m%d%H%M%S%f")
    return f"<outbox.{message.id}.{stamp}@codigodeconducta.gob.pe>"


def _as_email(message: OutboxMessage, settings: Settings) -> EmailMessage:
    email = EmailMessage()
    # Cleaned again here: a message queued before header_text existed is sent all the same.
    email["From"] = header_text(settings.mail_sender)
    email["To"] = header_text(message.to_address)
    email["Subject"] = header_text(message.subject)
    email["Message-ID"] = message_id(message)
    email.set_content(message.body)
    if message.attachment is not None and message.attachment_type:
        maintype, _, subtype = header_text(message.attachment_type).partition("/")
        email.add_attachment(
            message.attachment,
            maintype=maintype,
            subtype=subtype,
            filename=header_text(message.attachment_name or "", 200),
        )
    return email


def _send(email: EmailMessage, settings: Settings) -> None:
    if settings.mail_backend == "file":
        settings.outbox_dir.mkdir(parents=True, exist_ok=True)
        stamp = utcnow().strftime("%Y%m%dT%H%M%S%f")
        path = Path(settings.outbox_dir) / f"{stamp}.eml"
        path.write_bytes(bytes(email))
        log.info("mail for %s written to %s", email["To"], path)
        return
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password)
        smtp.send_message(email)


def deliver_pending(engine: Engine, settings: Settings, limit: int = 100) -> int:
    """Send what waits in the outbox; returns how many were sent."""
    sent = 0
    with Session(engine) as session:
        ids = session.scalars(
            select(OutboxMessage.id)
            .where(OutboxMessage.sent_at.is_(None))  # type: ignore[union-attr]
            .order_by(OutboxMessage.id)  # type: ignore[arg-type]
            .limit(limit)
        ).all()
    for message_id in ids:
        with Session(engine) as session:
            # Claim the message first, so two processes flushing at once never both send it.
            claimed = session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message_id, OutboxMessage.sent_at.is_(None))  # type: ignore[union-attr]
                .values(sent_at=utcnow(), attempts=OutboxMessage.attempts + 1)
            ).rowcount
            if not claimed:
                continue
            message = session.get(OutboxMessage, message_id)
            assert message is not None
            try:
                _send(_as_email(message, settings), settings)
            except (OSError, smtplib.SMTPException) as exc:
                log.warning("mail %s not sent yet: %s", message_id, exc)
                _left_in_outbox(session, message_id, exc)
                unreachable = not isinstance(exc, smtplib.SMTPException) or isinstance(
                    exc, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError
                )
                if unreachable:
                    break  # the server is down or unreachable: the rest would wait just as long
                continue
            except Exception as exc:  # this message cannot be sent: it must not hold up the rest
                log.exception("mail %s cannot be sent; left in the outbox", message_id)
                _left_in_outbox(session, message_id, exc)
                continue
            session.commit()
            sent += 1
    return sent


def _left_in_outbox(session: Session, message_id: int, exc: Exception) -> None:
    """Undo the claim on a message that was not sent, and keep why."""
    session.rollback()
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(attempts=OutboxMessage.attempts + 1, last_error=str(exc)[:500])
    )
    session.commit()
