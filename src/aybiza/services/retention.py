"""The retention sweep: every tenant's transcripts and events older than its policy allows are
deleted, a batch per transaction, and each tenant's sweep that removed something is recorded
in its audit log (``retention.swept``, with the counts).

``RetentionSweep.step`` is a ``BackgroundLoop`` step: it asks to run again at once while a
batch came back full. Several processes may sweep at the same time: each deletion is of rows
that are still there, so a second sweeper removes nothing twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.store.audit_log import AuditEntry, record
from aybiza.store.database import Database
from aybiza.store.models import utcnow
from aybiza.store.recording_files import RecordingStore
from aybiza.store.retention import (
    BATCH_UNITS,
    expire_events,
    expire_transcripts,
    expired_recordings,
    forget_recordings,
    tenants_with_retention,
)

log = structlog.get_logger(__name__)
BATCH = 500
Expire = Callable[[AsyncSession, str, datetime, int], Awaitable[dict[str, int]]]


@dataclass
class SweepReport:
    """What one sweep deleted per tenant and kind; ``more``: a batch came back full."""

    deleted: dict[str, dict[str, int]] = field(default_factory=dict)
    more: bool = False


class RetentionSweep:
    """Deletes what tenants' retention policies have expired; ``recordings`` is where call
    recordings are kept (None: this process keeps none)."""

    def __init__(
        self, database: Database, recordings: RecordingStore | None = None, *, batch: int = BATCH
    ) -> None:
        self._database = database
        self._recordings = recordings
        self._batch = batch

    async def sweep(self, now: datetime | None = None) -> SweepReport:
        """One pass over every tenant with a policy: up to ``batch`` units of each kind."""
        at = now or utcnow()
        async with self._database.session() as session:
            tenants = [
                (
                    t.id,
                    {
                        "transcripts_days": t.retention_transcripts_days,
                        "events_days": t.retention_events_days,
                        "recordings_days": t.retention_recordings_days,
                    },
                )
                for t in await tenants_with_retention(session)
            ]
        report = SweepReport()
        for tenant_id, policy in tenants:
            counts: dict[str, int] = {}
            kinds = (("transcripts_days", expire_transcripts), ("events_days", expire_events))
            for name, expire in kinds:
                days = policy[name]
                if days is None:
                    continue
                removed = await self._expire(expire, tenant_id, at - timedelta(days=days))
                report.more |= any(removed.get(unit, 0) >= self._batch for unit in BATCH_UNITS)
                for kind, count in removed.items():
                    counts[kind] = counts.get(kind, 0) + count
            days = policy["recordings_days"]
            if days is not None and self._recordings is not None:
                gone = await self._expire_recordings(tenant_id, at - timedelta(days=days))
                report.more |= gone >= self._batch
                counts["recordings"] = gone
            if any(counts.values()):
                report.deleted[tenant_id] = counts
                await self._audit(tenant_id, counts, policy)
        return report

    async def step(self) -> float | None:
        """The background loop's step: sweep, and again at once while work is left."""
        report = await self.sweep()
        if report.deleted:
            log.info("retention.swept", tenants=len(report.deleted), more=report.more)
        return 0.0 if report.more else None

    async def _expire(self, expire: Expire, tenant_id: str, before: datetime) -> dict[str, int]:
        async with self._database.writing() as session:
            return await expire(session, tenant_id, before, self._batch)

    async def _expire_recordings(self, tenant_id: str, before: datetime) -> int:
        """Delete the files first, then forget them on the calls (a file whose deletion failed
        stays noted, and the next sweep tries again)."""
        assert self._recordings is not None
        async with self._database.session() as session:
            expired = await expired_recordings(session, tenant_id, before, self._batch)
        for key in expired.values():
            if key:
                await self._recordings.delete(key)
        if not expired:
            return 0
        async with self._database.writing() as session:
            return await forget_recordings(session, list(expired))

    async def _audit(
        self, tenant_id: str, counts: dict[str, int], policy: dict[str, int | None]
    ) -> None:
        entry = AuditEntry(
            "retention.swept",
            "tenant",
            tenant_id,
            tenant_id,
            details={"deleted": counts, "policy": policy},
        )
        async with self._database.writing() as session:
            await record(session, entry)
