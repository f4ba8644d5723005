"""Password hashing at the production cost: the rest of the suite hashes with the cheapest Argon2
parameters (PORTAL_PASSWORD_HASH_COST=minimal, set in tests/conftest.py); these tests put the
portal's default back and check what it stores and how a cheaper hash is made again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import extract_parameters, profiles
from pydantic import ValidationError
from sqlmodel import select

from app.auth.models import User
from app.auth.passwords import hash_password, verify_password
from app.config import Settings, get_settings
from tests.conftest import PASSWORD, make_user, post_form, sign_in


@pytest.fixture
def production_cost(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The settings as the portal reads them when nothing sets the cost: the production one."""
    monkeypatch.delenv("PORTAL_PASSWORD_HASH_COST")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def test_the_default_cost_is_rfc_9106_low_memory(production_cost: None) -> None:
    stored = hash_password(PASSWORD)
    parameters = extract_parameters(stored)
    assert parameters == profiles.RFC_9106_LOW_MEMORY
    assert parameters.memory_cost == 64 * 1024 and parameters.time_cost == 3
    assert verify_password(stored, PASSWORD)
    assert not verify_password(stored, PASSWORD + "x")
    assert not verify_password(None, PASSWORD)


def test_the_suite_hashes_cheaply_and_still_checks_passwords() -> None:
    stored = hash_password(PASSWORD)
    assert extract_parameters(stored) == profiles.CHEAPEST
    assert verify_password(stored, PASSWORD)
    assert not verify_password(stored, "Tambopata-Rio-2025")


def test_a_cheap_hash_is_made_again_at_the_production_cost_on_sign_in(client, db) -> None:  # type: ignore[no-untyped-def]
    make_user(db, "rosa@hostal.pe")  # hashed at the suite's minimal cost
    cheap = db.exec(select(User).where(User.email == "rosa@hostal.pe")).one().password_hash
    assert extract_parameters(cheap) == profiles.CHEAPEST

    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("PORTAL_PASSWORD_HASH_COST")
        get_settings.cache_clear()
        try:
            sign_in(client, "rosa@hostal.pe")
            db.expire_all()
            upgraded = db.exec(select(User).where(User.email == "rosa@hostal.pe")).one()
            assert extract_parameters(upgraded.password_hash) == profiles.RFC_9106_LOW_MEMORY
            assert verify_password(upgraded.password_hash, PASSWORD)
            again = upgraded.password_hash
            # Signed in again with the hash in force: it is left as it is.
            client.cookies.clear()
            sign_in(client, "rosa@hostal.pe")
            db.expire_all()
            assert db.get(User, upgraded.id).password_hash == again  # type: ignore[union-attr]
        finally:
            get_settings.cache_clear()


def test_a_wrong_password_does_not_touch_the_stored_hash(client, db) -> None:  # type: ignore[no-untyped-def]
    user = make_user(db, "rosa@hostal.pe")
    before = user.password_hash
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("PORTAL_PASSWORD_HASH_COST")
        get_settings.cache_clear()
        try:
            response = post_form(
                client, "/account/login", {"email": "rosa@hostal.pe", "password": "Wrong-pass-2026"}
            )
            assert response.status_code == 400
        finally:
            get_settings.cache_clear()
    db.expire_all()
    assert db.get(User, user.id).password_hash == before  # type: ignore[union-attr]


def test_production_refuses_the_minimal_cost(production_cost: None) -> None:
    with pytest.raises(ValidationError, match="PORTAL_PASSWORD_HASH_COST"):
        Settings(environment="production", secret_key="s" * 40, password_hash_cost="minimal")
    assert Settings(environment="production", secret_key="s" * 40).password_hash_cost == "standard"
