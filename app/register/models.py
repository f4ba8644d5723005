"""The register version: a number that every committed change to public data moves on."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import BigInteger, Column, Engine, event, select
from sqlmodel import Field, Session, SQLModel

#: The tables the public register's pages are made from (tests/register/test_page_cache.py checks
#: that the pages read no other). A committed INSERT, UPDATE or DELETE on any of them, however it
#: was written (ORM, Core bulk insert, text SQL, another process), moves the version on.
PUBLIC_TABLES = frozenset(
    {
        "establishment",
        "register_term",
        "signature",
        "code_version",
        "reporting_period",
        "annual_report",
        "certificate",
    }
)

_WRITE = re.compile(
    r'(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|REPLACE\s+INTO|UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM)\s+"?(\w+)"?',
    re.IGNORECASE,
)
_DIRTY = "register_dirty"
_BUMP = "UPDATE register_version SET version = version + 1 WHERE id = 1"


class RegisterVersion(SQLModel, table=True):
    """One row. Cached public pages are kept only for the version they were made from."""

    __tablename__ = "register_version"

    id: int = Field(default=1, primary_key=True)
    version: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))


_VERSION = select(RegisterVersion.__table__.c.version).where(  # type: ignore[attr-defined]
    RegisterVersion.__table__.c.id == 1  # type: ignore[attr-defined]
)


def register_version(db_session: Session) -> int:
    """The current version (one primary-key read)."""
    return db_session.execute(_VERSION).scalar_one()


def watch_public_writes(engine: Engine) -> None:
    """Move the version on in the same transaction as any write to a public table.

    The bump is one UPDATE of one row sent right before COMMIT, on the same database connection:
    readers see the new version exactly when they see the new data, and on PostgreSQL the row lock
    that orders concurrent writers is held only for the commit itself, not for the transaction.
    """

    @event.listens_for(engine, "before_cursor_execute")
    def _note_write(conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        head = statement[:300].lstrip()
        if head[:1] not in "IiUuDdRrWw":
            return  # SELECT, PRAGMA, SAVEPOINT…: the common case, decided on the first letter
        # The table written is named first, except after a WITH (search the whole statement).
        tables = _WRITE.findall(statement) if head[:1] in "Ww" else _WRITE.findall(head)[:1]
        if any(table.lower() in PUBLIC_TABLES for table in tables):
            conn.info[_DIRTY] = True

    @event.listens_for(engine, "commit")
    def _bump(conn: Any) -> None:
        if conn.info.pop(_DIRTY, False):
            cursor = conn.connection.cursor()
            try:
                cursor.execute(_BUMP)
            finally:
                cursor.close()

    @event.listens_for(engine, "begin")
    @event.listens_for(engine, "rollback")
    def _forget(conn: Any) -> None:
        # A connection the database dropped is invalidated and rolled back: its info is out of
        # reach then (and a stale mark could only cost one needless bump later).
        if not conn.invalidated:
            conn.info.pop(_DIRTY, None)
