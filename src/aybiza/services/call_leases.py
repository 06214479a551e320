"""Leases on live calls, so that no call outlives the process that ran it.

Each server process has a ``worker_id``. When a call's loop opens here, the call is leased to
this process until ``now + lease``; a ``BackgroundLoop`` renews the leases of every call still
running here (one UPDATE) every third of a lease, and sweeps: a call ``in-progress`` whose lease
ran out belongs to a process that died (``kill -9``, a lost machine). It is ended with
``ended_reason: "server-lost"``, which frees its concurrency slot and sends ``call.ended``.
The sweep runs at start too, so a single process restarted after a crash cleans up after its
former self within one lease. It waits while the database is unreachable and for one lease after
it is back, so a call whose end (or a renewal) was queued during an outage is never judged lost.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import structlog
from sqlalchemy import or_, select, update

from aybiza.analytics import metrics
from aybiza.analytics.events import CallEvents
from aybiza.background import BackgroundLoop
from aybiza.services.live_calls import LiveCalls
from aybiza.store.database import Database
from aybiza.store.models import Call, utcnow

log = structlog.get_logger(__name__)

SERVER_LOST = "server-lost"
_SWEEP_BATCH = 100


class CallLeases:
    """This process's leases on its live calls, and the sweep for calls of dead processes."""

    def __init__(
        self, database: Database, live: LiveCalls, events: CallEvents, *, lease_s: float
    ) -> None:
        self.worker_id = uuid.uuid4().hex
        self._database = database
        self._live = live
        self._events = events
        self._lease = timedelta(seconds=lease_s)
        self._lease_s = lease_s
        self._loop = BackgroundLoop("call-leases", self.run_once, interval_s=lease_s / 3)

    def lease(self, call: Call) -> None:
        """Lease ``call`` to this process (in the transaction that starts its loop)."""
        call.worker_id, call.lease_until = self.worker_id, utcnow() + self._lease

    async def start(self) -> None:
        """Sweep once now (calls left by a crash), then renew and sweep in the background."""
        await self.run_once()
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def run_once(self) -> None:
        """Renew this process's leases, then end calls whose lease ran out."""
        await self._renew()
        # After an outage, calls' real ends and other servers' renewals may still be queued:
        # nothing is judged lost until the database has been back for a whole lease.
        if not self._database.health.settled(self._lease_s):
            return
        ended = await self._sweep()
        if ended:
            metrics.CALLS_ENDED.labels(SERVER_LOST).inc(len(ended))
            log.warning("calls.server_lost", calls=ended)
            self._events.wake()

    async def _renew(self) -> None:
        ids = self._live.call_ids()
        if not ids:
            return
        async with self._database.writing() as session:
            # Lock the rows in id order and skip any a call's own write holds now: a bulk
            # UPDATE taking row locks in another order deadlocked against those writes on
            # PostgreSQL under load. A skipped row is renewed a third of a lease later.
            locked = await session.execute(
                select(Call.id)
                .where(Call.id.in_(ids), Call.ended_at.is_(None))
                .order_by(Call.id)
                .with_for_update(skip_locked=True)
            )
            renew = list(locked.scalars())
            if renew:
                await session.execute(
                    update(Call)
                    .where(Call.id.in_(renew))
                    .values(worker_id=self.worker_id, lease_until=utcnow() + self._lease)
                )

    async def _sweep(self) -> list[str]:
        now = utcnow()
        ended: list[str] = []
        running_here = set(self._live.call_ids())
        async with self._database.writing() as session:
            rows = await session.execute(
                select(Call)
                .where(
                    Call.ended_at.is_(None),
                    or_(
                        # This process's own calls that are not live any more have ended
                        # here: their end may still wait in the writer's queue (a slow
                        # database), so they get two more leases before they count as lost.
                        (Call.lease_until < now)
                        & ((Call.worker_id != self.worker_id) | Call.worker_id.is_(None)),
                        (Call.lease_until < now - 2 * self._lease)
                        & (Call.worker_id == self.worker_id),
                        (Call.status == "in-progress")
                        & Call.lease_until.is_(None)
                        & (Call.started_at < now - self._lease),
                    ),
                )
                .limit(_SWEEP_BATCH)
            )
            for call in rows.scalars():
                if call.id in running_here:
                    continue
                call.status, call.ended_reason, call.ended_at = "completed", SERVER_LOST, now
                await self._events.call_ended(session, call.id)
                ended.append(call.id)
        return ended
