"""Certificates of compliance.

Revision ID: f3f18bda3fa6
Revises: be826087c47f
Create Date: 2026-11-22 23:15:10.599902
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.db

revision: str = "f3f18bda3fa6"
down_revision: str | None = "be826087c47f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "certificate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("establishment_id", sa.Integer(), nullable=False),
        sa.Column("period_id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("issued_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("issued_by_id", sa.Integer(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("pdf_es_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("pdf_es_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("pdf_en_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("pdf_en_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("signed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["establishment_id"], ["establishment.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["issued_by_id"], ["user_account.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["period_id"], ["reporting_period.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["report_id"], ["annual_report.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
        sa.UniqueConstraint(
            "establishment_id", "period_id", name="uq_certificate_establishment_period"
        ),
        sa.UniqueConstraint("number"),
        sa.UniqueConstraint("report_id"),
    )
    with op.batch_alter_table("certificate", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_certificate_establishment_id"), ["establishment_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_certificate_period_id"), ["period_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("certificate", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_certificate_period_id"))
        batch_op.drop_index(batch_op.f("ix_certificate_establishment_id"))

    op.drop_table("certificate")
