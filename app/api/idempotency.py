"""Retried POSTs are safe: the first answer to a request sent with an Idempotency-Key is kept and
given again for the same key, without acting twice (draft-ietf-httpapi-idempotency-key-header)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.api.models import IdempotencyKey
from app.api.problems import ApiProblem
from app.db import utcnow
from app.i18n import _

#: How long a key is remembered.
KEEP_FOR = timedelta(hours=24)


@dataclass(frozen=True)
class StoredAnswer:
    status_code: int
    body: Any


def request_digest(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def claim(
    *, db_session: Session, user_id: int, key: str | None, method: str, path: str, body: bytes
) -> tuple[IdempotencyKey | None, StoredAnswer | None]:
    """Take the key for this request, or find the answer it already had.

    Returns (record to complete with `remember`, None) for a new key, (None, answer) for a retry,
    (None, None) without a key. A key reused for another request is refused (422); one whose first
    request is still running answers 409.
    """
    if key is None:
        return None, None
    if not 1 <= len(key) <= 255 or not key.isprintable():
        raise ApiProblem(
            422,
            "validation_error",
            _("The Idempotency-Key header must be 1 to 255 printable characters."),
            {"Idempotency-Key": _("Check this value")},
        )
    digest = request_digest(method, path, body)
    existing = _find(db_session, user_id, key)
    if existing is None:
        db_session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.user_id == user_id,
                IdempotencyKey.created_at < utcnow() - KEEP_FOR,  # type: ignore[operator]
            )
        )
        record = IdempotencyKey(
            user_id=user_id, key=key, method=method, path=path[:300], request_sha256=digest
        )
        try:
            with db_session.begin_nested():
                db_session.add(record)
                db_session.flush()
            return record, None
        except IntegrityError:
            # The same key sent twice at once: the other request took it.
            existing = _find(db_session, user_id, key)
            if existing is None:
                raise _in_use() from None
    if existing.request_sha256 != digest:
        raise ApiProblem(
            422,
            "idempotency_key_reused",
            _("This Idempotency-Key was already used for a different request. Use a new key."),
            {"Idempotency-Key": _("Use a new key for a different request")},
        )
    if existing.status_code is None or existing.response_body is None:
        raise _in_use()
    return None, StoredAnswer(existing.status_code, json.loads(existing.response_body))


def remember(
    *, db_session: Session, record: IdempotencyKey | None, status_code: int, body: Any
) -> None:
    """Keep the answer given to the request that took the key (saved with the change it made)."""
    if record is None:
        return
    record.status_code = status_code
    record.response_body = json.dumps(body, ensure_ascii=False, default=str)
    db_session.add(record)
    db_session.flush()


def _find(db_session: Session, user_id: int, key: str) -> IdempotencyKey | None:
    return db_session.scalars(
        select(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
    ).first()


def _in_use() -> ApiProblem:
    return ApiProblem(
        409,
        "idempotency_key_in_use",
        _("A request with this Idempotency-Key is still being processed. Try again in a moment."),
    )
