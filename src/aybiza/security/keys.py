"""API keys: generated with 256 bits of randomness, shown once, stored as SHA-256.

A plain hash is enough here (no salt, no slow KDF): the key is random, not a password, so there
is nothing to guess. The first characters (``prefix``) are kept in clear so a person can tell
keys apart in a listing without seeing them.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

KEY_PREFIX = "ayb_"
# "ayb_" plus 8 characters of the random part: enough to tell keys apart, far from enough to
# guess the rest (which still has ~250 bits).
_SHOWN_CHARS = len(KEY_PREFIX) + 8


class Scope(StrEnum):
    """What a key may do. ``*`` is everything; ``<resource>:write`` implies ``<resource>:read``."""

    ALL = "*"
    AGENTS_READ = "agents:read"
    AGENTS_WRITE = "agents:write"
    NUMBERS_READ = "numbers:read"
    NUMBERS_WRITE = "numbers:write"
    CALLS_READ = "calls:read"
    CALLS_WRITE = "calls:write"
    WEBHOOKS_WRITE = "webhooks:write"
    KEYS_WRITE = "keys:write"


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


def grants(scopes: Iterable[str], needed: Scope) -> bool:
    """True when ``scopes`` allow ``needed`` (``*``, the scope itself, or its ``:write``)."""
    held = set(scopes)
    if Scope.ALL in held or needed in held:
        return True
    resource, _, action = needed.partition(":")
    return action == "read" and f"{resource}:write" in held


def covers(held: Iterable[str], wanted: Iterable[str]) -> bool:
    """True when a key with ``held`` scopes may mint a key with ``wanted`` scopes: a key can
    never hand out more than it has."""
    held_set = list(held)
    return all(
        Scope.ALL in held_set if scope == Scope.ALL else grants(held_set, Scope(scope))
        for scope in wanted
    )
