"""Signatures on outgoing webhooks: ``AYBIZA-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>]``.

Each ``v1`` is HMAC-SHA256, keyed with an endpoint secret, over ``"{t}.{body}"``. While a secret
is being rotated both the new and the previous secret sign, so receivers accept either.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

SIGNATURE_HEADER = "AYBIZA-Signature"
SECRET_PREFIX = "whsec_"


def new_webhook_secret() -> str:
    """A fresh endpoint secret (256 bits)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"{timestamp}.{body}"`` under ``secret``."""
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_header(secrets_: Sequence[str], timestamp: int, body: bytes) -> str:
    """The header value: the timestamp, then one ``v1`` per secret (newest first)."""
    parts = [f"t={timestamp}"]
    parts.extend(f"v1={signature(secret, timestamp, body)}" for secret in secrets_)
    return ",".join(parts)
