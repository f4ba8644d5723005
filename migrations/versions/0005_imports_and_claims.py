"""Existing signatories: import batches, contact e-mail on file, imported signatures, claims.

Revision ID: b58273594cf9
Revises: f3f18bda3fa6
Create Date: 2026-11-22 23:20:13.999375
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.db

revision: str = "b58273594cf9"
down_revision: str | None = "f3f18bda3fa6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "establishment_claim",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("establishment_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("method", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("sent_to", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
        sa.Column("expires_at", app.db.UTCDateTime(), nullable=True),
        sa.Column("explanation", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("created_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("decided_at", app.db.UTCDateTime(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decision_reason", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.CheckConstraint(
            "(decided_at IS NULL) = (state = 'pending')", name="ck_claim_decided_when_not_pending"
        ),
        sa.CheckConstraint("method IN ('email', 'review')", name="ck_claim_method"),
        sa.CheckConstraint(
            "state IN ('pending', 'approved', 'refused', 'cancelled')", name="ck_claim_state"
        ),
        sa.ForeignKeyConstraint(["decided_by_id"], ["user_account.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["establishment_id"], ["establishment.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("establishment_claim", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_establishment_claim_establishment_id"),
            ["establishment_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_establishment_claim_user_id"), ["user_id"], unique=False
        )
        batch_op.create_index(
            "uq_claim_pending",
            ["establishment_id", "user_id"],
            unique=True,
            sqlite_where=sa.text("state = 'pending'"),
            postgresql_where=sa.text("state = 'pending'"),
        )

    op.create_table(
        "import_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("filename", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["user_account.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("import_batch", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_import_batch_sha256"), ["sha256"], unique=False)

    with op.batch_alter_table("establishment", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("contact_email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True)
        )

    # Every signature so far was made on the portal, by a named representative.
    with op.batch_alter_table("signature", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "origin",
                sqlmodel.sql.sqltypes.AutoString(length=10),
                nullable=False,
                server_default="portal",
            )
        )
        batch_op.alter_column(
            "representative_name", existing_type=sa.VARCHAR(length=200), nullable=True
        )
        batch_op.alter_column("document_type", existing_type=sa.VARCHAR(length=10), nullable=True)
        batch_op.alter_column("document_number", existing_type=sa.VARCHAR(length=20), nullable=True)
        batch_op.create_check_constraint("ck_signature_origin", "origin IN ('portal', 'import')")
        batch_op.create_check_constraint(
            "ck_signature_representative",
            "origin = 'import' OR (representative_name IS NOT NULL AND document_type IS NOT NULL "
            "AND document_number IS NOT NULL)",
        )


def downgrade() -> None:
    # Imported signatures cannot exist without a representative: going back removes them.
    op.execute("DELETE FROM signature WHERE origin = 'import'")
    with op.batch_alter_table("signature", schema=None) as batch_op:
        batch_op.drop_constraint("ck_signature_representative", type_="check")
        batch_op.drop_constraint("ck_signature_origin", type_="check")
        batch_op.alter_column(
            "document_number", existing_type=sa.VARCHAR(length=20), nullable=False
        )
        batch_op.alter_column("document_type", existing_type=sa.VARCHAR(length=10), nullable=False)
        batch_op.alter_column(
            "representative_name", existing_type=sa.VARCHAR(length=200), nullable=False
        )
        batch_op.drop_column("origin")

    with op.batch_alter_table("establishment", schema=None) as batch_op:
        batch_op.drop_column("contact_email")

    with op.batch_alter_table("import_batch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_import_batch_sha256"))
    op.drop_table("import_batch")

    with op.batch_alter_table("establishment_claim", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_claim_pending",
            sqlite_where=sa.text("state = 'pending'"),
            postgresql_where=sa.text("state = 'pending'"),
        )
        batch_op.drop_index(batch_op.f("ix_establishment_claim_user_id"))
        batch_op.drop_index(batch_op.f("ix_establishment_claim_establishment_id"))
    op.drop_table("establishment_claim")
