"""Accounts and what proves who is signed in."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, String
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime, utcnow

ROLE_CODES = ("operator", "reviewer", "national_reviewer", "admin")
TOKEN_PURPOSES = ("confirm_email", "reset_password")


class User(SQLModel, table=True):
    __tablename__ = "user_account"
    __table_args__ = (
        CheckConstraint(
            "role IN ('operator', 'reviewer', 'national_reviewer', 'admin')", name="ck_user_role"
        ),
        CheckConstraint("locale IN ('es', 'en')", name="ck_user_locale"),
    )

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=20, default="operator")
    locale: str = Field(max_length=2, default="es")
    is_active: bool = Field(default=True)
    email_confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    password_changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class UserRegion(SQLModel, table=True):
    """A region a reviewer works for."""

    __tablename__ = "user_region"

    user_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
        )
    )
    region: str = Field(sa_column=Column(String(8), primary_key=True))


#: The session ids handed out at sign-in begin with this, and a visitor's anonymous one never does
#: (no "." in a URL-safe token): so a request without it is known to be anonymous with no database
#: lookup (app/auth/dependencies.py). Only a hint: a session id with it is still looked up.
SIGNED_IN_SID_MARK = "u."


class UserSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is kept here."""

    __tablename__ = "user_session"

    id: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class LoginFailure(SQLModel, table=True):
    """A failed sign-in, counted per account and per address to slow down guessing."""

    __tablename__ = "login_failure"
    __table_args__ = (Index("ix_login_failure_key_at", "key", "failed_at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=300)
    failed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AccountToken(SQLModel, table=True):
    """A single-use link sent by mail (confirm the e-mail, reset the password); only its hash is kept."""

    __tablename__ = "account_token"
    __table_args__ = (
        CheckConstraint(
            "purpose IN ('confirm_email', 'reset_password')", name="ck_account_token_purpose"
        ),
    )

    id: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    purpose: str = Field(max_length=20)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
