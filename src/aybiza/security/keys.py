"""API keys: generated with 256 bits of randomness, shown once, stored as SHA-256. What a key
may do (its scopes) is a set of ``aybiza.security.permissions.Permission``.

A plain hash is enough here (no salt, no slow KDF): the key is random, not a password, so there
is nothing to guess. The first characters (``prefix``) are kept in clear so a person can tell
keys apart in a listing without seeing them.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

KEY_PREFIX = "ayb_"
# "ayb_" plus 8 characters of the random part: enough to tell keys apart, far from enough to
# guess the rest (which still has ~250 bits).
_SHOWN_CHARS = len(KEY_PREFIX) + 8


@dataclass(frozen=True, slots=True)
class NewKey:
    """A freshly generated key: ``secret`` is shown once and never stored."""

    secret: str
    prefix: str
    key_hash: str


def generate_key() -> NewKey:
    """A new random key with its display prefix and hash."""
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    return NewKey(secret=secret, prefix=secret[:_SHOWN_CHARS], key_hash=hash_key(secret))


def hash_key(secret: str) -> str:
    """SHA-256 of the key, hex: what the database stores and looks keys up by."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()
