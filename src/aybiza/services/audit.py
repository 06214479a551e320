"""The audit log as people use it: read it a page at a time, export it as JSON lines for a
SIEM, verify its hash chains, and record an action that is not a row change.

Changes to the platform's tables are recorded by ``aybiza.store.audit_capture`` as they are
flushed; ``AuditLog.record`` (or ``aybiza.store.audit_log.record`` inside a transaction one
already holds) is for everything else: a sign-in, a call hung up, a caller's data erased.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select

from aybiza.errors import NotFound
from aybiza.store.audit_chain import ChainCheck, ChainProblem, jsonable
from aybiza.store.audit_log import Actor, AuditEntry, record
from aybiza.store.audit_models import AuditChainHead, AuditEvent
from aybiza.store.database import Database
from aybiza.store.paging import Page
from aybiza.store.tenant_repository import TenantRepository

_BATCH = 500


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which events to list: an action or a prefix of one (``agent.``), an actor, a target,
    a time range."""

    action: str | None = None
    actor_id: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        """The filter as SQL conditions."""
        where: list[ColumnElement[bool]] = []
        if self.action:
            if self.action.endswith("."):
                where.append(AuditEvent.action.startswith(self.action, autoescape=True))
            else:
                where.append(AuditEvent.action == self.action)
        if self.actor_id:
            where.append(AuditEvent.actor_id == self.actor_id)
        if self.target_id:
            where.append(AuditEvent.target_id == self.target_id)
        if self.since:
            where.append(AuditEvent.created_at >= self.since)
        if self.until:
            where.append(AuditEvent.created_at < self.until)
        return where


@dataclass(frozen=True, slots=True)
class Verification:
    """What ``verify`` found: events and chains checked, and every problem."""

    events: int
    chains: int
    problems: Sequence[ChainProblem]

    @property
    def intact(self) -> bool:
        """No event was edited or deleted."""
        return not self.problems


def event_document(row: AuditEvent) -> dict[str, Any]:
    """An event as the API and the export show it (the chain's fields included, so a SIEM
    can check the chain itself)."""
    return {
        "id": row.id,
        "seq": row.seq,
        "at": jsonable(row.created_at),
        "tenant_id": row.tenant_id,
        "action": row.action,
        "target": {"type": row.target_type, "id": row.target_id},
        "actor": {
            "kind": row.actor_kind,
            "id": row.actor_id,
            "name": row.actor_name,
            "role": row.actor_role,
            "address": row.source_address,
        },
        "request": row.request,
        "before": row.before,
        "after": row.after,
        "details": row.details,
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    }


class AuditLog:
    """Reading, exporting and verifying the log; recording actions."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._events = TenantRepository(
            database, AuditEvent, lambda ref: NotFound(f"no audit event {ref!r}", field="id")
        )

    async def record(
        self,
        action: str,
        *,
        tenant_id: str | None,
        target_type: str,
        target_id: str | None = None,
        before: Mapping[str, Any] | None = None,
        after: Mapping[str, Any] | None = None,
        details: Mapping[str, Any] | None = None,
        actor: Actor | None = None,
    ) -> str:
        """Record an action in a transaction of its own (secrets in ``before``, ``after`` and
        ``details`` are masked); returns the event's id. The actor is the current one (the
        request's person or key) unless given."""
        entry = AuditEntry(action, target_type, target_id, tenant_id, before, after, details)
        async with self._database.writing() as session:
            return await record(session, entry, actor)

    async def list(
        self, tenant_id: str, where: AuditFilter, *, cursor: str | None, limit: int
    ) -> Page[AuditEvent]:
        """The tenant's events matching ``where``, newest first."""
        return await self._events.list(tenant_id, *where.conditions(), cursor=cursor, limit=limit)

    async def export(self, tenant_id: str | None, *, after_seq: int = 0) -> AsyncIterator[str]:
        """The tenant's events (None: the platform's own) after ``after_seq``, in chain order,
        one JSON document per line."""
        chain = tenant_id or "platform"
        async for rows in self._chain_batches(chain, after_seq):
            for row in rows:
                yield (
                    json.dumps(
                        event_document(row),
                        ensure_ascii=False,
                        sort_keys=True,
                        separators=(",", ":"),
                    )
                    + "\n"
                )

    async def verify(self, tenant_id: str | None = None) -> Verification:
        """Walk every chain (or the tenant's) and report each edited or deleted event."""
        async with self._database.session() as session:
            heads = {
                row.chain: (row.seq, row.hash)
                for row in (await session.execute(select(AuditChainHead))).scalars()
            }
            chains = set(
                (await session.execute(select(AuditEvent.chain).distinct())).scalars()
            ) | set(heads)
        if tenant_id is not None:
            chains &= {tenant_id}
        problems: list[ChainProblem] = []
        events = 0
        for chain in sorted(chains):
            check = ChainCheck(chain)
            async for rows in self._chain_batches(chain, 0):
                check.feed(_row_fields(row) for row in rows)
            seq, digest = heads.get(chain, (None, None))
            problems += check.finish(seq, digest)
            events += check.count
        return Verification(events=events, chains=len(chains), problems=problems)

    async def _chain_batches(
        self, chain: str, after_seq: int
    ) -> AsyncIterator[Sequence[AuditEvent]]:
        while True:
            async with self._database.session() as session:
                rows = list(
                    (
                        await session.execute(
                            select(AuditEvent)
                            .where(AuditEvent.chain == chain, AuditEvent.seq > after_seq)
                            .order_by(AuditEvent.seq)
                            .limit(_BATCH)
                        )
                    ).scalars()
                )
            if not rows:
                return
            yield rows
            after_seq = rows[-1].seq


def _row_fields(row: AuditEvent) -> dict[str, Any]:
    return {column.key: getattr(row, column.key) for column in AuditEvent.__table__.columns}
