"""A certificate of compliance for one establishment and one reporting period."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, ForeignKey, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime, utcnow


class Certificate(SQLModel, table=True):
    """Issued when the report of a period is approved; one per establishment and period.

    The PDF is rendered once per language and kept in storage (Spanish at issue, English the first
    time someone asks for it); a re-issue renders it again with the establishment's current data and
    raises `revision`, keeping number and code, so a printed copy and its QR still verify. Whether it is valid is never stored: it is worked out
    live from the signature and the date (see `service.status_of`).
    """

    __tablename__ = "certificate"
    __table_args__ = (
        UniqueConstraint(
            "establishment_id", "period_id", name="uq_certificate_establishment_period"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=30, unique=True)
    #: The verification code: 160 random bits, so certificates cannot be enumerated.
    code: str = Field(max_length=40, unique=True)
    establishment_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("establishment.id", ondelete="RESTRICT"), nullable=False, index=True
        )
    )
    period_id: int = Field(foreign_key="reporting_period.id", ondelete="RESTRICT", index=True)
    report_id: int = Field(foreign_key="annual_report.id", ondelete="RESTRICT", unique=True)
    issued_on: date
    valid_until: date
    issued_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    issued_by_id: int | None = Field(
        default=None, foreign_key="user_account.id", ondelete="SET NULL"
    )
    revision: int = Field(default=1)
    pdf_es_key: str = Field(max_length=64)
    pdf_es_sha256: str = Field(max_length=64)
    pdf_en_key: str | None = Field(default=None, max_length=64)
    pdf_en_sha256: str | None = Field(default=None, max_length=64)
    #: Whether the stored PDFs carry the portal's digital signature (a signing key was configured).
    signed: bool = Field(default=False)
