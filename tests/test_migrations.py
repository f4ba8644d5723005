"""The database is made by the migrations alone: they match the models and they round-trip."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlmodel import SQLModel

import app.models  # noqa: F401
from app.migrate import downgrade, upgrade


def test_models_and_migrations_agree(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        differences = compare_metadata(
            MigrationContext.configure(connection, opts={"compare_type": True}),
            SQLModel.metadata,
        )
    engine.dispose()
    assert differences == []


@pytest.fixture
def empty_database(database_url: str, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A database of the same kind with nothing in it."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'roundtrip.db'}"
        return
    admin = create_engine(database_url)
    with admin.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS roundtrip CASCADE"))
        connection.execute(text("CREATE SCHEMA roundtrip"))
    separator = "&" if "?" in database_url else "?"
    yield f"{database_url}{separator}options=-csearch_path%3Droundtrip"
    with admin.begin() as connection:
        connection.execute(text("DROP SCHEMA roundtrip CASCADE"))
    admin.dispose()


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_downgrade_and_upgrade_round_trip(empty_database: str) -> None:
    upgrade(empty_database)
    expected = {t.name for t in SQLModel.metadata.sorted_tables}
    assert _tables(empty_database) == expected
    downgrade(empty_database, "base")
    assert _tables(empty_database) == set()
    upgrade(empty_database)
    assert _tables(empty_database) == expected


def test_code_text_and_report_form_are_loaded_once(empty_database: str) -> None:
    assert upgrade(empty_database) == ["2018", "report form 2025"]
    assert upgrade(empty_database) == []
