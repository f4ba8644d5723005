"""An operator's request to take over an establishment that has no operator (an imported one)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, text
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime, utcnow

CLAIM_METHODS = ("email", "review")
CLAIM_STATES = ("pending", "approved", "refused", "cancelled")


class EstablishmentClaim(SQLModel, table=True):
    """Proved either by a link sent to the e-mail on file, or by a reviewer of the region."""

    __tablename__ = "establishment_claim"
    __table_args__ = (
        CheckConstraint("method IN ('email', 'review')", name="ck_claim_method"),
        CheckConstraint(
            "state IN ('pending', 'approved', 'refused', 'cancelled')", name="ck_claim_state"
        ),
        CheckConstraint(
            "(decided_at IS NULL) = (state = 'pending')", name="ck_claim_decided_when_not_pending"
        ),
        # One pending request per person and establishment: asking twice is refused by the database too.
        Index(
            "uq_claim_pending",
            "establishment_id",
            "user_id",
            unique=True,
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    establishment_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("establishment.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    user_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    method: str = Field(max_length=10)
    state: str = Field(max_length=10, default="pending")
    #: SHA-256 of the link's token (claims by e-mail); the token itself is only in the mail.
    token_hash: str | None = Field(default=None, max_length=64, unique=True)
    sent_to: str | None = Field(default=None, max_length=254)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    explanation: str | None = Field(default=None, max_length=1000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_by_id: int | None = Field(
        default=None, foreign_key="user_account.id", ondelete="SET NULL"
    )
    decision_reason: str | None = Field(default=None, max_length=1000)
