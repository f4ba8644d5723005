"""An import of existing signatories from the ministry's spreadsheets."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.db import UTCDateTime, utcnow


class ImportBatch(SQLModel, table=True):
    """One file applied to the register: which file (by its SHA-256), who, when, and what it did."""

    __tablename__ = "import_batch"

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(max_length=64, index=True)
    filename: str = Field(max_length=200)
    actor_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    #: Who applied it, as the audit log names them: an admin's e-mail, or "cli".
    actor: str = Field(max_length=254)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    total_rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: int = 0
