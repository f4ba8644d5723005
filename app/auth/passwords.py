"""Password hashing (Argon2) and the rule for a password strong enough to keep."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from app.i18n import _

MIN_LENGTH = 10
MAX_LENGTH = 128
_hasher = PasswordHasher()
# A real hash, so that checking a password for an unknown account takes as long as for a known one.
_DUMMY_HASH = _hasher.hash("not-a-real-password-used-for-timing")


@cache
def _common_passwords() -> frozenset[str]:
    path = Path(__file__).with_name("common_passwords.txt")
    return frozenset(
        line.strip().lower() for line in path.read_text("utf-8").splitlines() if line.strip()
    )


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


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
