"""Audit entries and the head of their hash chain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime, utcnow


class AuditEntry(SQLModel, table=True):
    """Who did what, when, to which thing, with the state before and after. Never updated or deleted."""

    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor_id: int | None = Field(default=None, index=True)
    actor_email: str = Field(max_length=254)
    action: str = Field(max_length=40, index=True)
    object_type: str = Field(max_length=40)
    object_id: str = Field(max_length=40)
    region: str | None = Field(default=None, max_length=8, index=True)
    summary: str = Field(max_length=500, default="")
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)


class AuditHead(SQLModel, table=True):
    """One row: the last entry's hash. Updating it serialises writers, so the chain never forks."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    last_id: int = Field(default=0)
    last_hash: str = Field(max_length=64)
