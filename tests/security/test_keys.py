"""API keys: random, shown once, stored as SHA-256 with a short prefix; scope rules."""

from __future__ import annotations

import hashlib

from aybiza.security.keys import generate_key, hash_key
from aybiza.security.permissions import Permission, covers, grants


def test_keys_are_random_prefixed_and_stored_only_as_their_hash() -> None:
    keys = [generate_key() for _ in range(50)]
    assert len({key.secret for key in keys}) == 50
    for key in keys:
        assert key.secret.startswith("ayb_") and len(key.secret) >= 40
        assert key.secret.startswith(key.prefix) and len(key.prefix) == 12
        assert (
            key.key_hash == hashlib.sha256(key.secret.encode()).hexdigest() == hash_key(key.secret)
        )
        assert key.secret not in key.key_hash


def test_write_implies_read_of_the_same_resource_and_star_implies_everything() -> None:
    assert grants(["agents:write"], Permission.AGENTS_READ)
    assert not grants(["agents:read"], Permission.AGENTS_WRITE)
    assert not grants(["numbers:write"], Permission.AGENTS_READ)
    assert all(grants(["*"], scope) for scope in Permission)
    assert not grants([], Permission.CALLS_READ)


def test_a_key_only_covers_scopes_it_holds() -> None:
    assert covers(["*"], ["*", "calls:write"])
    assert covers(["agents:write", "keys:write"], ["agents:read", "agents:write"])
    assert not covers(["agents:write", "keys:write"], ["*"])
    assert not covers(["keys:write"], ["calls:read"])
