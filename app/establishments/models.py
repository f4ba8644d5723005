"""An establishment is one SUNAT branch (RUC + branch code) of a tourism business."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime, utcnow


class Establishment(SQLModel, table=True):
    __tablename__ = "establishment"
    __table_args__ = (UniqueConstraint("ruc", "branch_code", name="uq_establishment_ruc_branch"),)

    id: int | None = Field(default=None, primary_key=True)
    ruc: str = Field(max_length=11, index=True)
    branch_code: str = Field(max_length=4)
    legal_name: str = Field(max_length=200)
    trade_name: str = Field(max_length=200)
    category: str = Field(max_length=32, index=True)
    region: str = Field(max_length=8, index=True)
    province: str = Field(max_length=100)
    district: str = Field(max_length=100)
    address: str = Field(max_length=300)
    website: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=30)
    #: The address on the ministry's file (imported signatories): where a claim link is sent.
    #: Never shown publicly.
    contact_email: str | None = Field(default=None, max_length=254)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class EstablishmentOperator(SQLModel, table=True):
    """An operator account that manages an establishment (a chain manages many)."""

    __tablename__ = "establishment_operator"

    establishment_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("establishment.id", ondelete="CASCADE"), primary_key=True
        )
    )
    user_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("user_account.id", ondelete="CASCADE"),
            primary_key=True,
            index=True,
        )
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
