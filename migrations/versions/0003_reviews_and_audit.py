"""Review decisions, report assignment, signature status history and the append-only audit log.

Revision ID: be826087c47f
Revises: 15462fe4a2cf
Create Date: 2026-11-22 21:53:20.547349
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.db

revision: str = "be826087c47f"
down_revision: str | None = "15462fe4a2cf"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", app.db.UTCDateTime(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("object_type", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("object_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("region", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
        sa.Column("summary", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("prev_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("hash"),
    )
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_entry_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_entry_actor_id"), ["actor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_entry_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_entry_region"), ["region"], unique=False)

    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.Column("last_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "review_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=True),
        sa.Column("decision", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("comment", sqlmodel.sql.sqltypes.AutoString(length=5000), nullable=False),
        sa.Column("section_comments", sa.JSON(), nullable=False),
        sa.Column("decided_at", app.db.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "decision != 'rejected' OR reason IS NOT NULL", name="ck_rejection_has_reason"
        ),
        sa.CheckConstraint(
            "decision IN ('approved', 'changes_requested', 'rejected')", name="ck_decision_kind"
        ),
        sa.ForeignKeyConstraint(["report_id"], ["annual_report.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["reviewer_id"], ["user_account.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["submission_id"], ["report_submission.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("submission_id"),
    )
    with op.batch_alter_table("review_decision", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_review_decision_report_id"), ["report_id"], unique=False
        )

    with op.batch_alter_table("annual_report", schema=None) as batch_op:
        batch_op.add_column(sa.Column("assigned_to_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_annual_report_assigned_to",
            "user_account",
            ["assigned_to_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("signature", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status_changed_at", app.db.UTCDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("status_reason", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True)
        )
    _append_only()


_APPEND_ONLY_SQLITE = [
    "CREATE TRIGGER audit_entry_no_update BEFORE UPDATE ON audit_entry "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    "CREATE TRIGGER audit_entry_no_delete BEFORE DELETE ON audit_entry "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
]
_APPEND_ONLY_POSTGRESQL = [
    "CREATE FUNCTION audit_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$",
    "CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_entry "
    "FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only()",
]


def _append_only() -> None:
    """The database itself refuses to change or delete an audit entry."""
    statements = (
        _APPEND_ONLY_SQLITE if op.get_bind().dialect.name == "sqlite" else _APPEND_ONLY_POSTGRESQL
    )
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_entry_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_entry_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_entry_append_only ON audit_entry")
        op.execute("DROP FUNCTION IF EXISTS audit_entry_append_only()")
    with op.batch_alter_table("signature", schema=None) as batch_op:
        batch_op.drop_column("status_reason")
        batch_op.drop_column("status_changed_at")

    with op.batch_alter_table("annual_report", schema=None) as batch_op:
        # WARNING: constraint name is None; this directive will fail as
        # rendered.  Add a name, or use a naming convention; see
        # https://alembic.sqlalchemy.org/en/latest/naming.html
        batch_op.drop_constraint("fk_annual_report_assigned_to", type_="foreignkey")
        batch_op.drop_column("assigned_to_id")

    with op.batch_alter_table("review_decision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_decision_report_id"))

    op.drop_table("review_decision")
    op.drop_table("audit_head")
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_entry_region"))
        batch_op.drop_index(batch_op.f("ix_audit_entry_at"))
        batch_op.drop_index(batch_op.f("ix_audit_entry_actor_id"))
        batch_op.drop_index(batch_op.f("ix_audit_entry_action"))

    op.drop_table("audit_entry")
