"""Random bearer tokens for sessions, CSRF and invitations: 256 bits, URL-safe, stored only
as their SHA-256 (nothing to guess, so no slow hash is needed)."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_token() -> str:
    """A fresh token: 32 random bytes, base64url without padding."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """SHA-256 of the token, hex: what the database stores and looks it up by."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def same_token(token: str, stored_hash: str) -> bool:
    """Whether ``token`` hashes to ``stored_hash`` (compared in constant time)."""
    return hmac.compare_digest(token_hash(token), stored_hash)
