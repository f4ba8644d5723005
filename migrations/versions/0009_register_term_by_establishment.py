"""The register's search terms indexed by establishment and term, not by establishment alone: a
search by several words looks for each further word among one establishment's own terms, and with
the term in the index that look-up reads no table rows (bench/RESULTS-register.md: "hostal cóndor"
on SQLite from 11.2 to 3.4 ms).

Revision ID: 4b8e2d6f1a73
Revises: 7d1f3c5a9e20
Create Date: 2026-12-02 07:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "4b8e2d6f1a73"
down_revision: str | None = "7d1f3c5a9e20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_register_term_establishment_term", "register_term", ["establishment_id", "term"]
    )
    # The new index starts with the establishment: it serves everything the old one did.
    op.drop_index("ix_register_term_establishment_id", table_name="register_term")


def downgrade() -> None:
    op.create_index("ix_register_term_establishment_id", "register_term", ["establishment_id"])
    op.drop_index("ix_register_term_establishment_term", table_name="register_term")
