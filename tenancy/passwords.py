"""Password hashing with argon2id."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # argon2id with the library's current RFC 9106 parameters
# Verified when the email is unknown so that a miss costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("tollgate-timing-equalizer")

MIN_LENGTH = 10
MAX_LENGTH = 256


def hash_password(password: str) -> str:
    """An argon2id hash string."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether the password matches; constant-time, and as slow for a missing hash."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False
