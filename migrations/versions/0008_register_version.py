"""The register version: one row that every committed change to public data moves on, so that
rendered public register pages can be cached per worker without ever showing an old state.

Revision ID: 7d1f3c5a9e20
Revises: bc7b28f12bf9
Create Date: 2026-12-02 02:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7d1f3c5a9e20"
down_revision: str | None = "bc7b28f12bf9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "register_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(table, [{"id": 1, "version": 0}])


def downgrade() -> None:
    op.drop_table("register_version")
