"""Password hashing (Argon2) and the rule for a password strong enough to keep."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from app.config import get_settings
from app.i18n import _

MIN_LENGTH = 10
MAX_LENGTH = 128
# argon2-cffi's default is RFC 9106's low-memory profile (64 MiB, 3 passes); the cheapest one
# exists for test suites only: the settings refuse it in production.
_PROFILES = {"standard": profiles.RFC_9106_LOW_MEMORY, "minimal": profiles.CHEAPEST}


@cache
def _hasher_and_dummy(cost: str) -> tuple[PasswordHasher, str]:
    hasher = PasswordHasher.from_parameters(_PROFILES[cost])
    # A real hash, so that checking a password for an unknown account takes as long as for a
    # known one.
    return hasher, hasher.hash("not-a-real-password-used-for-timing")


def _hasher() -> tuple[PasswordHasher, str]:
    return _hasher_and_dummy(get_settings().password_hash_cost)


@cache
def _common_passwords() -> frozenset[str]:
    path = Path(__file__).with_name("common_passwords.txt")
    return frozenset(
        line.strip().lower() for line in path.read_text("utf-8").splitlines() if line.strip()
    )


def hash_password(password: str) -> str:
    return _hasher()[0].hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    hasher, dummy = _hasher()
    try:
        return hasher.verify(password_hash or dummy, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether a hash was made with other parameters than the ones in force (say, cheaper)."""
    try:
        return _hasher()[0].check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def password_problem(password: str, email: str = "") -> str | None:
    """Why a new password is too weak, or None when it will do."""
    if not password:
        return _("Enter a password")
    if len(password) < MIN_LENGTH:
        return _("Enter a password of at least %(n)s characters", n=MIN_LENGTH)
    if len(password) > MAX_LENGTH:
        return _("Enter a password of at most %(n)s characters", n=MAX_LENGTH)
    lowered = password.lower()
    local_part = email.lower().split("@")[0]
    if (
        lowered in _common_passwords()
        or len(set(lowered)) < 4
        or (len(local_part) >= 4 and local_part in lowered)
    ):
        return _(
            "This password is too easy to guess: avoid common passwords, repeated characters "
            "and your e-mail address"
        )
    return None
