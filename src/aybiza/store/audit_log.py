"""Appending to the audit log, and who is acting.

The actor (a person, an API key, the operator's CLI, or the platform itself) is set once per
request by the API's authentication (``act_as``) or per command by the CLI (``acting``), and
every audit event written in that context names it: changes captured from the ORM
(``aybiza.store.audit_capture``) and events recorded explicitly (``record``) alike.

Appends to one chain are serialised: on PostgreSQL by a transaction-scoped advisory lock per
chain, on SQLite by its single writer (the audited change already holds the write lock).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.store.audit_chain import GENESIS, chain_hash, jsonable, masked
from aybiza.store.audit_models import PLATFORM_CHAIN, AuditChainHead, AuditEvent
from aybiza.store.models import new_id, utcnow


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change: ``kind`` is ``user``, ``key``, ``operator`` (the operator key),
    ``cli`` or ``system``; ``role`` is a person's role or a key's scopes; ``request`` the HTTP
    method and path that made it."""

    kind: str
    name: str
    id: str | None = None
    role: str | None = None
    tenant_id: str | None = None
    address: str | None = None
    request: str | None = None


SYSTEM = Actor("system", "aybiza")
_actor: ContextVar[Actor] = ContextVar("aybiza_audit_actor", default=SYSTEM)


def current_actor() -> Actor:
    """Who is acting in this context (``SYSTEM`` when nobody said)."""
    return _actor.get()


def act_as(actor: Actor) -> None:
    """Make ``actor`` the actor for the rest of this task (one request)."""
    _actor.set(actor)


@contextmanager
def acting(actor: Actor) -> Iterator[Actor]:
    """``actor`` acts inside the block."""
    token = _actor.set(actor)
    try:
        yield actor
    finally:
        _actor.reset(token)


def acting_for(tenant_id: str | None) -> Actor:
    """The current actor, with ``tenant_id`` as its tenant (the CLI acting on a tenant)."""
    return replace(current_actor(), tenant_id=tenant_id)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """What happened: ``action`` (``agent.updated``, ``user.signed_in``), on what, and the
    state before and after (masked before they are written)."""

    action: str
    target_type: str
    target_id: str | None = None
    tenant_id: str | None = None
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None
    details: Mapping[str, Any] | None = field(default=None)


def append(
    connection: Connection, entry: AuditEntry, actor: Actor, at: datetime | None = None
) -> str:
    """Write ``entry`` at the end of its tenant's chain; returns the new event's id."""
    chain = entry.tenant_id or PLATFORM_CHAIN
    _lock(connection, chain)
    head = connection.execute(
        select(AuditChainHead.seq, AuditChainHead.hash).where(AuditChainHead.chain == chain)
    ).first()
    seq, prev_hash = (head.seq + 1, head.hash) if head is not None else (1, GENESIS)
    values: dict[str, Any] = {
        "id": new_id(),
        "chain": chain,
        "seq": seq,
        "tenant_id": entry.tenant_id,
        "created_at": at or utcnow(),
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "actor_kind": actor.kind,
        "actor_id": actor.id,
        "actor_name": actor.name[:320],
        "actor_role": actor.role[:400] if actor.role else None,
        "source_address": actor.address,
        "request": actor.request[:300] if actor.request else None,
        "before": _document(entry.before),
        "after": _document(entry.after),
        "details": _document(entry.details),
        "prev_hash": prev_hash,
    }
    values["hash"] = chain_hash(prev_hash, values)
    connection.execute(insert(AuditEvent).values(**values))
    if head is None:
        connection.execute(insert(AuditChainHead).values(chain=chain, seq=seq, hash=values["hash"]))
    else:
        connection.execute(
            update(AuditChainHead)
            .where(AuditChainHead.chain == chain)
            .values(seq=seq, hash=values["hash"])
        )
    return str(values["id"])


async def record(session: AsyncSession, entry: AuditEntry, actor: Actor | None = None) -> str:
    """Append ``entry`` inside ``session``'s transaction (it commits or rolls back with the
    change it describes); the actor is the current one unless given, and an entry of no
    tenant in particular goes to the actor's tenant."""
    who = actor or current_actor()
    if entry.tenant_id is None and who.tenant_id is not None:
        entry = replace(entry, tenant_id=who.tenant_id)
    return await session.run_sync(lambda sync: append(sync.connection(), entry, who))


def _document(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    plain = masked(jsonable(dict(value)))
    assert isinstance(plain, dict)
    return plain


def _lock(connection: Connection, chain: str) -> None:
    if connection.dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(f"aybiza.audit:{chain}".encode()).digest()[:8], "big")
        # Advisory lock keys are signed 64-bit integers.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key - (1 << 63)})
