"""Personal API tokens: created (shown once), listed, revoked, and recognised on each request."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlmodel import Session

from app.api.models import ApiToken
from app.audit import service as audit
from app.auth.models import User
from app.db import utcnow
from app.errors import DomainError, NotFound
from app.i18n import _

#: Every token starts with this, so a leaked one is recognisable (secret scanners, logs).
TOKEN_PREFIX = "cdc_"
MAX_ACTIVE_TOKENS = 20


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(*, db_session: Session, user: User, name: str) -> tuple[ApiToken, str]:
    """A new token for `user`: the stored record and the token itself (shown once, never kept)."""
    name = name.strip()
    if not name:
        raise DomainError(
            _("Enter a name for the token, such as the system that will use it"), "name"
        )
    if len(name) > 100:
        raise DomainError(
            _(
                "Enter at most %(limit)s characters (you entered %(count)s)",
                limit=100,
                count=len(name),
            ),
            "name",
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise DomainError(_("Remove line breaks and special characters from this field"), "name")
    if len(active_tokens(db_session=db_session, user=user)) >= MAX_ACTIVE_TOKENS:
        raise DomainError(
            _(
                "You have %(count)s tokens in use: revoke one you no longer need first",
                count=MAX_ACTIVE_TOKENS,
            ),
            "name",
        )
    # 256 random bits.
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = ApiToken(
        user_id=user.id,  # type: ignore[arg-type]
        name=name,
        prefix=token[: len(TOKEN_PREFIX) + 4],
        token_sha256=_sha256(token),
    )
    db_session.add(record)
    db_session.flush()
    _audit(db_session, user, "api_token.create", record)
    return record, token


def _audit(db_session: Session, user: User, action: str, record: ApiToken) -> None:
    # Staff actions are audited; a staff token can read and decide for a whole region.
    if user.role != "operator":
        audit.record(
            db_session=db_session,
            actor=user,
            action=action,
            object_type="api_token",
            object_id=record.id,
            summary=f"{record.name} ({record.prefix}…)",
        )


def active_tokens(*, db_session: Session, user: User) -> list[ApiToken]:
    """The user's tokens that still work, newest first."""
    return list(
        db_session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))  # type: ignore[union-attr]
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())  # type: ignore[attr-defined, union-attr]
        )
    )


def revoke_token(*, db_session: Session, user: User, token_id: int) -> ApiToken:
    """Stop one of the user's own tokens from working, at once."""
    record = db_session.get(ApiToken, token_id)
    if record is None or record.user_id != user.id or record.revoked_at is not None:
        raise NotFound()
    record.revoked_at = utcnow()
    db_session.flush()
    _audit(db_session, user, "api_token.revoke", record)
    return record


def authenticate(*, db_session: Session, token: str) -> tuple[ApiToken, User] | None:
    """The token record and its active user for a token sent by a client, or None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    row = db_session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)  # type: ignore[arg-type]
        .where(ApiToken.token_sha256 == _sha256(token), ApiToken.revoked_at.is_(None))  # type: ignore[union-attr]
    ).first()
    if row is None or not row[1].is_active:
        return None
    return row[0], row[1]


def mark_used(connection, token_id: int) -> None:  # type: ignore[no-untyped-def]
    """Record when the token was last used (on its own connection, so a failed request still counts)."""
    now = utcnow()
    # At most one write a minute per token: the date is for people, to the minute is enough.
    connection.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            or_(
                ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - timedelta(minutes=1)
            ),  # type: ignore[union-attr, operator]
        )
        .values(last_used_at=now)
    )
