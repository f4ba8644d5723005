"""The public register's search: folded name keys and one search term per word of the names.

Revision ID: 5a7e0c1d9b42
Revises: b58273594cf9
Create Date: 2026-11-23 10:00:00.000000
"""

import re
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5a7e0c1d9b42"
down_revision: str | None = "b58273594cf9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _key(length: int) -> sa.String:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")  # type: ignore[return-value]


# A frozen copy of app.establishments.names.fold as it was when this migration was written.
_WORD = re.compile(r"\w+")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(word[:60] for word in _WORD.findall(plain.replace("_", " ")))


def upgrade() -> None:
    with op.batch_alter_table("establishment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name_key", _key(200), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("province_key", _key(100), nullable=False, server_default=""))
        batch_op.create_index(batch_op.f("ix_establishment_name_key"), ["name_key"], unique=False)
        batch_op.create_index(
            "ix_establishment_region_category_name",
            ["region", "category", "name_key"],
            unique=False,
        )
    op.create_table(
        "register_term",
        sa.Column("term", _key(60), nullable=False),
        sa.Column("establishment_id", sa.Integer(), nullable=False),
        sa.Column("name_key", _key(200), nullable=False),
        sa.ForeignKeyConstraint(["establishment_id"], ["establishment.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("term", "establishment_id"),
    )
    with op.batch_alter_table("register_term", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_register_term_establishment_id"), ["establishment_id"], unique=False
        )
        batch_op.create_index(
            "ix_register_term_term_name_key",
            ["term", "name_key", "establishment_id"],
            unique=False,
        )

    with op.batch_alter_table("signature", schema=None) as batch_op:
        batch_op.create_index(
            "ix_signature_latest", ["establishment_id", "signed_at", "id"], unique=False
        )
    with op.batch_alter_table("annual_report", schema=None) as batch_op:
        batch_op.create_index(
            "ix_report_standing", ["establishment_id", "period_id", "state"], unique=False
        )

    # Fold the names already there; signatories enter the search index.
    bind = op.get_bind()
    establishment = sa.table(
        "establishment",
        sa.column("id", sa.Integer),
        sa.column("trade_name", sa.String),
        sa.column("legal_name", sa.String),
        sa.column("province", sa.String),
        sa.column("name_key", sa.String),
        sa.column("province_key", sa.String),
    )
    term = sa.table(
        "register_term",
        sa.column("term", sa.String),
        sa.column("establishment_id", sa.Integer),
        sa.column("name_key", sa.String),
    )
    signed = set(bind.execute(sa.text("SELECT DISTINCT establishment_id FROM signature")).scalars())
    rows = bind.execute(
        sa.select(
            establishment.c.id,
            establishment.c.trade_name,
            establishment.c.legal_name,
            establishment.c.province,
        )
    ).all()
    for id_, trade_name, legal_name, province in rows:
        bind.execute(
            establishment.update()
            .where(establishment.c.id == id_)
            .values(name_key=_fold(trade_name), province_key=_fold(province))
        )
        if id_ not in signed:
            continue
        words = {w for name in (trade_name, legal_name) for w in _fold(name).split()}
        bind.execute(
            term.insert(),
            [
                {"term": w, "establishment_id": id_, "name_key": _fold(trade_name)}
                for w in sorted(words) or [""]
            ],
        )


def downgrade() -> None:
    with op.batch_alter_table("annual_report", schema=None) as batch_op:
        batch_op.drop_index("ix_report_standing")
    with op.batch_alter_table("signature", schema=None) as batch_op:
        batch_op.drop_index("ix_signature_latest")
    with op.batch_alter_table("register_term", schema=None) as batch_op:
        batch_op.drop_index("ix_register_term_term_name_key")
        batch_op.drop_index(batch_op.f("ix_register_term_establishment_id"))
    op.drop_table("register_term")
    with op.batch_alter_table("establishment", schema=None) as batch_op:
        batch_op.drop_index("ix_establishment_region_category_name")
        batch_op.drop_index(batch_op.f("ix_establishment_name_key"))
        batch_op.drop_column("province_key")
        batch_op.drop_column("name_key")
