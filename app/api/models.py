"""What the JSON API keeps: personal API tokens, answers to retried requests, and rate counters."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime, utcnow


class ApiToken(SQLModel, table=True):
    """A personal API token. The token itself is shown once; only its SHA-256 is kept."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    name: str = Field(max_length=100)
    #: The first characters of the token ("cdc_" and four more), so a person can tell tokens apart.
    prefix: str = Field(max_length=12)
    token_sha256: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class IdempotencyKey(SQLModel, table=True):
    """The first answer to a POST sent with an Idempotency-Key, given again when it is retried."""

    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_idempotency_key_user_key"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False)
    )
    key: str = Field(max_length=255)
    method: str = Field(max_length=10)
    path: str = Field(max_length=300)
    request_sha256: str = Field(max_length=64)
    status_code: int | None = Field(default=None)
    response_body: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ApiRateCounter(SQLModel, table=True):
    """Requests made with a token in one minute; shared by every worker process through the database."""

    __tablename__ = "api_rate_counter"

    token_id: int = Field(
        sa_column=Column(Integer, ForeignKey("api_token.id", ondelete="CASCADE"), primary_key=True)
    )
    #: The minute: seconds since the epoch divided by 60.
    minute: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    count: int = Field(default=0)
