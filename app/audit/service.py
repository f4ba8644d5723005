"""Writing to the audit log, reading it (scoped by region), and proving the chain unbroken."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.audit.models import AuditEntry, AuditHead
from app.auth.models import User, UserRegion
from app.auth.roles import Permission, has_permission
from app.db import utcnow

GENESIS = "0" * 64


def _digest(entry: dict[str, Any], prev_hash: str) -> str:
    canonical = json.dumps(
        {**entry, "prev_hash": prev_hash},
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _hashed_fields(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "actor_id": entry.actor_id,
        "actor_email": entry.actor_email,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "region": entry.region,
        "summary": entry.summary,
        "before": entry.before,
        "after": entry.after,
    }


def _claim_head(db_session: Session) -> AuditHead:
    """Lock the chain's head for this transaction (a row update waits for any other writer)."""
    for _attempt in range(3):
        updated = db_session.execute(
            update(AuditHead).where(AuditHead.id == 1).values(last_id=AuditHead.last_id)
        ).rowcount
        if updated:
            head = db_session.get(AuditHead, 1, populate_existing=True)
            assert head is not None
            return head
        try:
            with db_session.begin_nested():
                db_session.execute(insert(AuditHead).values(id=1, last_id=0, last_hash=GENESIS))
        except IntegrityError:
            continue
    raise RuntimeError("could not lock the audit log")


def record(
    *,
    db_session: Session,
    actor: User | None,
    action: str,
    object_type: str,
    object_id: object,
    region: str | None = None,
    summary: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    system_actor: str = "system",
) -> AuditEntry:
    """Append an entry in the caller's transaction: it is saved with the change it describes, or not at all.

    Without an actor, the entry names `system_actor` (a batch job, or "cli" for the command line).
    """
    head = _claim_head(db_session)
    entry = AuditEntry(
        id=head.last_id + 1,
        at=utcnow().replace(microsecond=0),
        actor_id=actor.id if actor else None,
        actor_email=actor.email if actor else system_actor,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        region=region,
        summary=summary[:500],
        before=_plain(before),
        after=_plain(after),
        prev_hash=head.last_hash,
        hash="",
    )
    entry.hash = _digest(_hashed_fields(entry), entry.prev_hash)
    db_session.add(entry)
    head.last_id, head.last_hash = entry.id, entry.hash  # type: ignore[assignment]
    db_session.flush()
    return entry


def _plain(value: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if value is None else json.loads(json.dumps(value, default=str))


@dataclass
class ChainReport:
    entries: int
    problems: list[str]

    @property
    def intact(self) -> bool:
        return not self.problems


def verify(*, db_session: Session) -> ChainReport:
    """Recompute every hash: a changed, inserted or deleted entry breaks the chain and is named."""
    problems: list[str] = []
    previous_hash, expected_id, count = GENESIS, 1, 0
    for entry in db_session.scalars(select(AuditEntry).order_by(AuditEntry.id)).yield_per(500):
        count += 1
        if entry.id != expected_id:
            problems.append(f"entries {expected_id} to {entry.id - 1} are missing")  # type: ignore[operator]
        if entry.prev_hash != previous_hash:
            problems.append(f"entry {entry.id} does not follow the entry before it")
        if _digest(_hashed_fields(entry), entry.prev_hash) != entry.hash:
            problems.append(f"entry {entry.id} was changed after it was written")
        previous_hash, expected_id = entry.hash, entry.id + 1  # type: ignore[operator]
    head = db_session.get(AuditHead, 1)
    if head is not None and (head.last_id != expected_id - 1 or head.last_hash != previous_hash):
        problems.append(f"the last entries after {expected_id - 1} are missing")
    return ChainReport(entries=count, problems=problems)


@dataclass
class AuditFilter:
    action: str = ""
    actor: str = ""
    region: str = ""
    object_type: str = ""
    since: datetime | None = None
    until: datetime | None = None


def readable_statement(user: User, filters: AuditFilter) -> Select[tuple[AuditEntry]]:
    """The entries a staff member may read: national staff and admins all, regional reviewers their regions'."""
    statement = select(AuditEntry)
    if not has_permission(user.role, Permission.VIEW_ALL_ESTABLISHMENTS):
        statement = statement.where(
            AuditEntry.region.in_(select(UserRegion.region).where(UserRegion.user_id == user.id))  # type: ignore[union-attr]
        )
    if filters.action:
        statement = statement.where(AuditEntry.action == filters.action)
    if filters.actor:
        statement = statement.where(
            func.lower(AuditEntry.actor_email).contains(filters.actor.lower(), autoescape=True)
        )
    if filters.region:
        statement = statement.where(AuditEntry.region == filters.region)
    if filters.object_type:
        statement = statement.where(AuditEntry.object_type == filters.object_type)
    if filters.since:
        statement = statement.where(AuditEntry.at >= filters.since)
    if filters.until:
        statement = statement.where(AuditEntry.at < filters.until)
    return statement.order_by(AuditEntry.id.desc())  # type: ignore[union-attr]


def iter_readable(*, db_session: Session, user: User, filters: AuditFilter) -> Iterator[AuditEntry]:
    yield from db_session.scalars(readable_statement(user, filters)).yield_per(500)
