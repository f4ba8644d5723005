"""Reporting periods, report forms, annual reports and what was filed."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, ForeignKey, Index, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime, utcnow

REPORT_STATES = ("draft", "submitted", "changes_requested", "resubmitted", "approved", "rejected")
REMINDER_KINDS = ("opened", "due_30", "due_7", "due_1", "overdue")


class ReportForm(SQLModel, table=True):
    """One version of the report form; a period names the version its reports use."""

    __tablename__ = "report_form"

    id: int | None = Field(default=None, primary_key=True)
    version: str = Field(max_length=20, unique=True)
    published_on: date
    content: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ReportingPeriod(SQLModel, table=True):
    """The report on `year`: filed from `opens_on` to `deadline`, then `grace_days` more before sanctions."""

    __tablename__ = "reporting_period"
    __table_args__ = (
        CheckConstraint("deadline >= opens_on", name="ck_period_deadline_after_opening"),
        CheckConstraint("grace_days >= 0", name="ck_period_grace_not_negative"),
    )

    id: int | None = Field(default=None, primary_key=True)
    year: int = Field(unique=True)
    opens_on: date
    deadline: date
    grace_days: int = Field(default=30)
    cutoff_on: date  # signatories on this date must file
    report_form_id: int = Field(foreign_key="report_form.id", ondelete="RESTRICT")
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AnnualReport(SQLModel, table=True):
    """The report of one establishment for one period: the working copy the operator edits."""

    __tablename__ = "annual_report"
    __table_args__ = (
        UniqueConstraint("establishment_id", "period_id", name="uq_report_establishment_period"),
        CheckConstraint(
            "state IN ('draft', 'submitted', 'changes_requested', 'resubmitted', 'approved', 'rejected')",
            name="ck_report_state",
        ),
        # Standings (app/establishments/standing.py) read only the state: from the index alone.
        Index("ix_report_standing", "establishment_id", "period_id", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    establishment_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("establishment.id", ondelete="RESTRICT"), nullable=False, index=True
        )
    )
    period_id: int = Field(foreign_key="reporting_period.id", ondelete="RESTRICT", index=True)
    state: str = Field(max_length=20, default="draft")
    #: Raised by every change; a save that read an older version is refused (optimistic locking).
    version: int = Field(default=1)
    content: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_by_id: int | None = Field(
        default=None, foreign_key="user_account.id", ondelete="SET NULL"
    )
    #: The reviewer working on it, so two reviewers do not review the same report.
    assigned_to_id: int | None = Field(
        default=None, foreign_key="user_account.id", ondelete="SET NULL"
    )


class ReportSubmission(SQLModel, table=True):
    """Exactly what was filed, once; never changed. The receipt is made from it."""

    __tablename__ = "report_submission"
    __table_args__ = (UniqueConstraint("report_id", "number", name="uq_submission_number"),)

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="annual_report.id", ondelete="RESTRICT", index=True)
    number: int
    submitted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    submitted_by_id: int | None = Field(
        default=None, foreign_key="user_account.id", ondelete="SET NULL"
    )
    late: bool = Field(default=False)
    content: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    content_sha256: str = Field(max_length=64)


class Evidence(SQLModel, table=True):
    """A file attached to a report section. The bytes live in the evidence storage under `storage_key`."""

    __tablename__ = "evidence"

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="annual_report.id", ondelete="RESTRICT", index=True)
    section: str = Field(max_length=40)
    storage_key: str = Field(max_length=64, unique=True)
    filename: str = Field(max_length=200)
    content_type: str = Field(max_length=50)
    size: int
    sha256: str = Field(max_length=64)
    uploaded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    uploaded_by_id: int | None = Field(
        default=None, foreign_key="user_account.id", ondelete="SET NULL"
    )
    #: Removed from the working copy; kept because a submission may list it.
    removed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ReminderSent(SQLModel, table=True):
    """A reminder mail of one kind, for one establishment and period: sent once, never again."""

    __tablename__ = "reminder_sent"
    __table_args__ = (
        UniqueConstraint("establishment_id", "period_id", "kind", name="uq_reminder_once"),
        CheckConstraint(
            "kind IN ('opened', 'due_30', 'due_7', 'due_1', 'overdue')", name="ck_reminder_kind"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    establishment_id: int = Field(foreign_key="establishment.id", ondelete="CASCADE")
    period_id: int = Field(foreign_key="reporting_period.id", ondelete="CASCADE")
    kind: str = Field(max_length=10)
    sent_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
