"""A caller's number as the audit log may keep it: a keyed digest, never the number.

A plain hash of a phone number is no protection (there are only about 10^10 numbers a country
can have, hashed in minutes); keyed with the deployment's master key, the digest lets whoever
holds the key confirm "this erasure was of that number" and nobody else learn the number.
"""

from __future__ import annotations

import hashlib
import hmac

_PURPOSE = b"aybiza caller digest\x00"


def caller_digest(master_key: bytes, number: str) -> str:
    """``hmac-sha256:`` and the hex HMAC of ``number`` under a key derived from the master
    key for this purpose alone."""
    key = hashlib.sha256(_PURPOSE + master_key).digest()
    return "hmac-sha256:" + hmac.new(key, number.encode("utf-8"), hashlib.sha256).hexdigest()
