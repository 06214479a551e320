"""Webhook signatures: HMAC-SHA256 over "{t}.{body}", one v1 per signing secret."""

from __future__ import annotations

import hashlib
import hmac

from aybiza.security.signing import new_webhook_secret, signature_header


def test_the_header_carries_the_timestamp_and_one_signature_per_secret() -> None:
    body = b'{"type":"call.ended"}'
    new, old = new_webhook_secret(), new_webhook_secret()
    header = signature_header([new, old], 1_700_000_000, body)
    parts = header.split(",")
    assert parts[0] == "t=1700000000"
    expected = [
        hmac.new(secret.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
        for secret in (new, old)
    ]
    assert parts[1:] == [f"v1={digest}" for digest in expected]
    assert new.startswith("whsec_") and new != old
