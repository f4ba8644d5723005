"""The request's transaction: whatever a request wrote is undone when it fails, savepoints too."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlmodel import Session

from app.auth.models import User


def test_a_savepoint_as_the_first_write_is_undone_by_the_rollback(app):
    """On SQLite a SAVEPOINT opened before any other write used to commit on its own release."""
    with Session(app.state.engine) as session:
        session.scalar(select(func.count()).select_from(User))  # reads first, as a request does
        with session.begin_nested():
            session.add(User(email="savepoint@hostal.pe", password_hash="x", role="operator"))
            session.flush()
        session.rollback()
    with Session(app.state.engine) as session:
        assert session.scalar(select(func.count()).select_from(User)) == 0
