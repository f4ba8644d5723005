"""Running the Alembic migrations from code (the CLI and the tests build databases this way)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlmodel import Session

from app.config import ROOT
from app.db import make_engine


def alembic_config(database_url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logging"] = False
    return config


def upgrade(database_url: str, revision: str = "head") -> list[str]:
    """Bring the schema to `revision`, then add any new version of the Code text."""
    command.upgrade(alembic_config(database_url), revision)
    from app.conduct.service import sync_code_versions
    from app.reports.service import sync_report_forms

    # Unwatched (app/db.py): `revision` may be older than the register's version table.
    engine = make_engine(database_url, watch_public_writes=False)
    try:
        with Session(engine) as session:
            added = sync_code_versions(db_session=session)
            added += [f"report form {v}" for v in sync_report_forms(db_session=session)]
            session.commit()
    finally:
        engine.dispose()
    return added


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)
