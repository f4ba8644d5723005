"""A reviewer's decision on one submission of a report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime, utcnow

DECISIONS = ("approved", "changes_requested", "rejected")


class ReviewDecision(SQLModel, table=True):
    __tablename__ = "review_decision"
    __table_args__ = (
        CheckConstraint(
            "decision IN ('approved', 'changes_requested', 'rejected')", name="ck_decision_kind"
        ),
        CheckConstraint(
            "decision != 'rejected' OR reason IS NOT NULL", name="ck_rejection_has_reason"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="annual_report.id", ondelete="RESTRICT", index=True)
    # One decision per submission: two reviewers deciding at once cannot both succeed.
    submission_id: int = Field(foreign_key="report_submission.id", ondelete="RESTRICT", unique=True)
    reviewer_id: int | None = Field(
        default=None, foreign_key="user_account.id", ondelete="SET NULL"
    )
    decision: str = Field(max_length=20)
    reason: str | None = Field(default=None, max_length=40)
    comment: str = Field(default="", max_length=5000)
    section_comments: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    decided_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
