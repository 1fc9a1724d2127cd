"""Argon2 password hashing, with a dummy verification for unknown users (timing-safe)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("dummy-password-for-timing")

COMMON_PASSWORDS = frozenset(
    {
        "password",
        "password1",
        "12345678",
        "123456789",
        "1234567890",
        "qwerty123",
        "admin123",
        "11111111",
        "88888888",
        "abc12345",
        "iloveyou",
        "changeme",
        "welcome1",
    }
)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> tuple[bool, str | None]:
    """Answer (ok, new_hash): new_hash is set when the stored hash should be upgraded."""
    if password_hash is None:
        try:
            _hasher.verify(_DUMMY_HASH, password)
        except VerificationError:
            pass
        return False, None
    try:
        _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False, None
    if _hasher.check_needs_rehash(password_hash):
        return True, _hasher.hash(password)
    return True, None


def password_problem(password: str, username: str | None = None) -> str | None:
    """Why a password is too weak, or None when it is acceptable."""
    if len(password) < 10:
        return "must be at least 10 characters"
    if len(password) > 128:
        return "must be at most 128 characters"
    if password.lower() in COMMON_PASSWORDS or len(set(password)) < 4:
        return "is too common or too simple"
    classes = sum(
        [
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        ]
    )
    if classes < 2:
        return "must mix at least two of: lower case, upper case, digits, symbols"
    if username and username.lower() in password.lower():
        return "must not contain the username"
    return None
