"""An establishment is one SUNAT branch (RUC + branch code) of a tourism business."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    delete,
    event,
    exists,
    insert,
    select,
)
from sqlalchemy import inspect as sa_inspect
from sqlmodel import Field, SQLModel

from app.conduct.models import Signature
from app.db import UTCDateTime, utcnow
from app.establishments.names import fold, terms_of


def search_key(length: int) -> String:
    """A folded text compared byte by byte on both databases, so that prefix ranges use the index."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")  # type: ignore[return-value]


class Establishment(SQLModel, table=True):
    __tablename__ = "establishment"
    __table_args__ = (
        UniqueConstraint("ruc", "branch_code", name="uq_establishment_ruc_branch"),
        # The register filtered by region and category, in name order, read straight off the index.
        Index("ix_establishment_region_category_name", "region", "category", "name_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    ruc: str = Field(max_length=11, index=True)
    branch_code: str = Field(max_length=4)
    legal_name: str = Field(max_length=200)
    trade_name: str = Field(max_length=200)
    category: str = Field(max_length=32, index=True)
    region: str = Field(max_length=8, index=True)
    province: str = Field(max_length=100)
    district: str = Field(max_length=100)
    address: str = Field(max_length=300)
    website: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=30)
    #: The address on the ministry's file (imported signatories): where a claim link is sent.
    #: Never shown publicly.
    contact_email: str | None = Field(default=None, max_length=254)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    #: The trade name folded (see names.fold): the register sorts by it and matches its prefix.
    name_key: str = Field(
        default="", sa_column=Column(search_key(200), nullable=False, index=True, server_default="")
    )
    #: The province folded, so that "cusco" finds "Cusco".
    province_key: str = Field(
        default="", sa_column=Column(search_key(100), nullable=False, server_default="")
    )


class RegisterTerm(SQLModel, table=True):
    """One folded word of a signatory's trade or legal name: the public register's search index.

    An establishment enters it when it first signs (signatures are never deleted, so it stays),
    which is what lets a search by name count and order its matches from this index alone. Each
    row carries the establishment's `name_key`, so the order by name needs no other table.
    """

    __tablename__ = "register_term"
    __table_args__ = (
        Index("ix_register_term_term_name_key", "term", "name_key", "establishment_id"),
        # A search's further words are looked for among one establishment's terms (migration 0009).
        Index("ix_register_term_establishment_term", "establishment_id", "term"),
    )

    term: str = Field(sa_column=Column(search_key(60), primary_key=True))
    establishment_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("establishment.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    name_key: str = Field(sa_column=Column(search_key(200), nullable=False))


# The folded keys and the search terms follow the names on every insert and update, whichever
# service or script writes the establishment or its signature.


@event.listens_for(Establishment, "before_insert")
@event.listens_for(Establishment, "before_update")
def _fold_keys(_mapper: Any, _connection: Any, target: Establishment) -> None:
    target.name_key = fold(target.trade_name)
    target.province_key = fold(target.province)


@event.listens_for(Establishment, "after_update")
def _index_renamed(_mapper: Any, connection: Any, target: Establishment) -> None:
    state = sa_inspect(target)
    renamed = state.attrs.trade_name.history.has_changes() or (
        state.attrs.legal_name.history.has_changes()
    )
    table = RegisterTerm.__table__  # type: ignore[attr-defined]
    if renamed and connection.scalar(select(exists().where(table.c.establishment_id == target.id))):
        index_terms(connection, target.id, target.trade_name, target.legal_name)  # type: ignore[arg-type]


@event.listens_for(Signature, "after_insert")
def _index_signatory(_mapper: Any, connection: Any, target: Signature) -> None:
    table = Establishment.__table__  # type: ignore[attr-defined]
    names = connection.execute(
        select(table.c.trade_name, table.c.legal_name).where(table.c.id == target.establishment_id)
    ).one()
    index_terms(connection, target.establishment_id, *names)


def index_terms(connection: Any, establishment_id: int, trade_name: str, legal_name: str) -> None:
    """Put a signatory's words in the register's search index (again, after a change of name)."""
    table = RegisterTerm.__table__  # type: ignore[attr-defined]
    connection.execute(delete(table).where(table.c.establishment_id == establishment_id))
    name_key = fold(trade_name)
    connection.execute(
        insert(table),
        [
            {"term": t, "establishment_id": establishment_id, "name_key": name_key}
            for t in sorted(terms_of(trade_name, legal_name)) or [""]
        ],
    )


class EstablishmentOperator(SQLModel, table=True):
    """An operator account that manages an establishment (a chain manages many)."""

    __tablename__ = "establishment_operator"

    establishment_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("establishment.id", ondelete="CASCADE"), primary_key=True
        )
    )
    user_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("user_account.id", ondelete="CASCADE"),
            primary_key=True,
            index=True,
        )
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
