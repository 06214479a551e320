"""What the edge workers replicate from the origin (docs/edge.md): API keys and numbers.

The auth-validator keeps every active key's SHA-256, tenant and scopes, split into shards by
the first hex digits of the hash (each shard, a Durable Object, pulls only its own keys). The
voice-router keeps each number's home ``region`` and ``fallback_region`` to send its calls
there. Both are pulled whole at intervals and kept current between pulls by pushed events
(``aybiza.services.edge_events``). Revoked keys are left out: a key the edge does not hold is
refused.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from aybiza.errors import invalid
from aybiza.security.keys import hash_key
from aybiza.security.permissions import Permission
from aybiza.store.database import Database
from aybiza.store.models import ApiKey, PhoneNumber, Tenant
from aybiza.store.queries import tenant_by_name

HASH_PREFIX = re.compile(r"^[0-9a-f]{0,8}$")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A replicated table as JSON, and its entity tag (the hash of the JSON): the edge sends
    the tag back and gets 304 when nothing changed."""

    body: bytes
    etag: str


def _snapshot(document: dict[str, Any]) -> Snapshot:
    body = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
    return Snapshot(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


class EdgeReplica:
    """Builds the tables the edge pulls. ``operator_key`` (``AYBIZA_API_KEY``) is replicated
    as a key of ``operator_tenant`` with every scope, as the origin treats it."""

    def __init__(
        self, database: Database, *, operator_key: str | None, operator_tenant: str
    ) -> None:
        self._database = database
        self._operator_key = operator_key
        self._operator_tenant = operator_tenant

    async def keys(self, prefix: str) -> Snapshot:
        """The active keys whose hash starts with ``prefix`` (lower-case hex, up to 8)."""
        if not HASH_PREFIX.match(prefix):
            raise invalid("prefix", "0 to 8 lower-case hex digits", prefix)
        async with self._database.session() as session:
            rows = await session.execute(
                select(ApiKey.key_hash, ApiKey.id, ApiKey.tenant_id, ApiKey.scopes)
                .join(Tenant, Tenant.id == ApiKey.tenant_id)
                .where(ApiKey.revoked_at.is_(None), ApiKey.key_hash.startswith(prefix))
                .order_by(ApiKey.key_hash)
            )
            keys: list[dict[str, object]] = [
                {"hash": key_hash, "key_id": key_id, "tenant_id": tenant_id, "scopes": scopes}
                for key_hash, key_id, tenant_id, scopes in rows
            ]
            if self._operator_key:
                operator_hash = hash_key(self._operator_key)
                tenant = await tenant_by_name(session, self._operator_tenant)
                if tenant is not None and operator_hash.startswith(prefix):
                    keys.append(
                        {
                            "hash": operator_hash,
                            "key_id": None,
                            "tenant_id": tenant.id,
                            "scopes": [Permission.ALL.value],
                        }
                    )
        return _snapshot({"prefix": prefix, "keys": keys})

    async def numbers(self) -> Snapshot:
        """Every number with its home region and fallback region."""
        async with self._database.session() as session:
            rows = await session.execute(
                select(PhoneNumber.e164, PhoneNumber.region, PhoneNumber.fallback_region).order_by(
                    PhoneNumber.e164
                )
            )
            numbers = [
                {"e164": e164, "region": region, "fallback_region": fallback}
                for e164, region, fallback in rows
            ]
        return _snapshot({"numbers": numbers})
