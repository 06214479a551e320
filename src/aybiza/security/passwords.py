"""Passwords: argon2id hashes (RFC 9106's low-memory profile, argon2-cffi's defaults: 3
passes over 64 MiB with 4 lanes), checked in constant time.

Hashing takes tens of milliseconds on purpose: callers on the event loop run it in a thread
(``asyncio.to_thread``) so live calls never wait on it.
"""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 256
_HASHER = PasswordHasher()


def password_problem(password: str) -> str | None:
    """Why ``password`` cannot be used, or None. Length is the rule that matters (NIST SP
    800-63B): at least 12 characters, at most 256, not all the same character."""
    if len(password) < MIN_PASSWORD_CHARS:
        return f"at least {MIN_PASSWORD_CHARS} characters"
    if len(password) > MAX_PASSWORD_CHARS:
        return f"at most {MAX_PASSWORD_CHARS} characters"
    if len(set(password)) < 3:
        return "more than one or two different characters"
    return None


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (PHC string with its salt and parameters)."""
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``password_hash``. Without a hash (no such person, or no
    password set) a dummy hash is checked, so the answer takes as long either way."""
    try:
        return _HASHER.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return _HASHER.check_needs_rehash(password_hash)


@cache
def _dummy_hash() -> str:
    return _HASHER.hash("not a password anyone has")
