"""Versions of the Code text and the signatures that bind an establishment to one of them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, ForeignKey, Index, Integer, text
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime, utcnow

SIGNATURE_STATUSES = ("active", "suspended", "revoked", "withdrawn")
#: Where a signature comes from: signed on the portal, or brought in from the ministry's records.
SIGNATURE_ORIGINS = ("portal", "import")


class CodeVersion(SQLModel, table=True):
    """One published version of the Code text; never changed once a signature points to it."""

    __tablename__ = "code_version"

    id: int | None = Field(default=None, primary_key=True)
    version: str = Field(max_length=20, unique=True)
    published_on: date
    content: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    text_sha256: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    def commitments_for(self, category: str) -> list[dict[str, Any]]:
        """The commitments of this version that apply to an establishment category."""
        return [
            c
            for c in self.content["commitments"]
            if not c.get("categories") or category in c["categories"]
        ]


class Signature(SQLModel, table=True):
    """An establishment's adhesion to the Code, by its legal representative."""

    __tablename__ = "signature"
    __table_args__ = (
        CheckConstraint(
            "status IN ('active', 'suspended', 'revoked', 'withdrawn')", name="ck_signature_status"
        ),
        CheckConstraint(
            "document_type IN ('DNI', 'CE', 'PASSPORT')", name="ck_signature_document_type"
        ),
        CheckConstraint("origin IN ('portal', 'import')", name="ck_signature_origin"),
        # Signed on the portal: by a named legal representative with an identity document. Signatures
        # brought in from the ministry's spreadsheets (before the portal) carry neither.
        CheckConstraint(
            "origin = 'import' OR (representative_name IS NOT NULL AND document_type IS NOT NULL "
            "AND document_number IS NOT NULL)",
            name="ck_signature_representative",
        ),
        # At most one signature in force per establishment: signing twice is refused by the database too.
        Index(
            "uq_signature_in_force",
            "establishment_id",
            unique=True,
            sqlite_where=text("status IN ('active', 'suspended')"),
            postgresql_where=text("status IN ('active', 'suspended')"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    establishment_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("establishment.id", ondelete="RESTRICT"), nullable=False, index=True
        )
    )
    code_version_id: int = Field(foreign_key="code_version.id", ondelete="RESTRICT")
    signatory_number: str = Field(max_length=20, unique=True)
    representative_name: str | None = Field(default=None, max_length=200)
    document_type: str | None = Field(default=None, max_length=10)
    document_number: str | None = Field(default=None, max_length=20)
    origin: str = Field(max_length=10, default="portal")
    language: str = Field(max_length=2, default="es")
    status: str = Field(max_length=12, default="active")
    signed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    signed_by_id: int | None = Field(
        default=None, foreign_key="user_account.id", ondelete="SET NULL"
    )
    #: When the status last changed (suspension, revocation, reinstatement, withdrawal) and why.
    status_changed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    status_reason: str | None = Field(default=None, max_length=1000)


class SignatoryCounter(SQLModel, table=True):
    """The last signatory number handed out in a year."""

    __tablename__ = "signatory_counter"

    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    last: int = Field(default=0)
