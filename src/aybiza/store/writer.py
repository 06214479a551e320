"""A single writer task per process that persists call events in order, as they happen.

Calls never wait on the database: they queue a write and go on. The writer commits each batch
of queued writes at once, so a turn or transcript line reaches disk within milliseconds of being
said (a crash loses nothing already written) while SQLite sees one writer, never a lock storm.

When the database is unreachable (``aybiza.store.health``: refused, reset, timed out, shutting
down, out of space) the batch stays at the head of the queue and is retried with backoff until
it is stored, and writes queued meanwhile wait behind it: nothing is reordered, and nothing is
lost while the queue has room. A write the database refuses (a broken constraint, a bug in the
write) is dropped and logged, never retried: it would hold up every write behind it forever.

The queue is bounded (``MAX_QUEUED_WRITES``). When it is full, new writes are turned away,
counted and logged, rather than the oldest dropped: what is stored of a call stays an unbroken
beginning of what was said. A call's end (an ``essential`` write) is still admitted into a
reserve beyond the bound, so every call still ends in the record.

Call data is sealed at rest by the column types (``aybiza.store.sealing``) whichever way a
write reaches them: ORM rows added by a write are marked with their tenant by the flush hook;
a write that runs a Core ``insert``/``update`` (a batch of rows in one statement) marks its
values with ``aybiza.store.sealing_hooks.sealed_values`` first, or is refused.

Most writes are new rows (a transcript line, a turn): they are queued as ``RowInsert`` (the
row's values, already redacted) rather than as a write function, and a batch writes them with
one Core ``INSERT`` per table (an executemany: one round trip), not one ORM unit of work per
row. Their values are marked for sealing (``sealed_values``) like any Core write. A batch's
rows are written first, then its other writes in order (a call's end reports the lines queued
with it); a row's ``then`` (its webhook event) runs after them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from prometheus_client import Counter, Gauge
from sqlalchemy import insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.store.database import Database
from aybiza.store.health import database_unreachable, describe
from aybiza.store.models import Base
from aybiza.store.sealing_hooks import sealed_values

WriteFunction = Callable[[AsyncSession], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RowInsert:
    """A new row of ``model`` (every column given, ``id`` included) for ``tenant_id``, whose
    sealed values are sealed with that tenant's key; ``then`` runs in the same transaction
    once the batch's rows are written."""

    model: type[Base]
    tenant_id: str | None
    values: dict[str, Any]
    then: WriteFunction | None = None


Write = WriteFunction | RowInsert
log = structlog.get_logger(__name__)

QUEUED = Gauge("aybiza_store_writes_queued", "Writes waiting in the store writer's queue.")
RETRIES = Counter(
    "aybiza_store_write_retries_total",
    "Attempts the store writer repeated because the database was unreachable.",
)
RETRIED = Counter(
    "aybiza_store_writes_retried_total",
    "Writes stored after waiting in the queue for the database to come back.",
)
DROPPED = Counter(
    "aybiza_store_writes_dropped_total",
    "Writes never stored, by reason: refused (the database rejected the write itself), "
    "queue-full (turned away during a long outage), shutdown (still queued at exit).",
    ["reason"],
)

_MAX_BATCH = 200
# How long a write may wait for others to share its commit (it is still on disk within ~20 ms).
COALESCE_S = 0.015
# The bound: a 5-minute outage at 100 live calls. A brisk call settles a turn every 4 s:
# 15 turns a minute, each a caller line, a heard agent line and a turn row (45 writes), plus
# backchannel lines and tool-call records: about 60 writes per call per minute at most (the
# call's stats are written once, with its end). 100 calls x 5 min x 60 = 30,000 writes, and a
# fifth more for headroom: 36,000, each 1.6 to 1.8 KB while queued (an ORM row and its closure,
# measured by bench/db_outage.py): about 60 MB when full, 0.6 MB per call.
MAX_QUEUED_WRITES = 36_000
# Retry backoff while the database is unreachable (doubling, with jitter); the probe's first
# success cuts the wait short.
RETRY_FIRST_S = 0.2
RETRY_MAX_S = 5.0
# One attempt that takes longer than this counts as unreachable (a partition answers nothing);
# above SQLite's 15 s lock wait, so a busy SQLite is not taken for an outage.
ATTEMPT_TIMEOUT_S = 30.0
# How long ``stop()`` waits for an unreachable database before giving up what is queued.
STOP_GRACE_S = 30.0


class StoreWriter:
    """Orders and batches writes, and holds them through database outages; ``flush()`` waits
    until everything queued so far is stored (or the database is found unreachable)."""

    def __init__(
        self,
        database: Database,
        *,
        max_queued: int = MAX_QUEUED_WRITES,
        rng: random.Random | None = None,
    ) -> None:
        if max_queued < 1:
            raise ValueError(f"max_queued must be at least 1, got {max_queued}")
        self._database = database
        self._health = database.health
        self._max_queued = max_queued
        self._reserve = max(1, max_queued // 10)
        self._rng = rng or random.Random()
        self._on_commit: list[Callable[[], None]] = []
        self._queue: deque[Write] = deque()
        self._has_work = asyncio.Event()
        # Sequence numbers: writes admitted so far, and writes settled (stored or refused) in
        # order; ``flush()`` waits for ``settled`` to reach what was admitted before it.
        self._admitted = 0
        self._settled = 0
        self._waiters: deque[tuple[int, asyncio.Future[None], bool]] = deque()
        # Writes admitted up to this number waited out an outage (counted when stored).
        self._held_until = 0
        self._holding = False
        self._full = False
        self._turned_away_while_full = 0
        self._task: asyncio.Task[None] | None = None
        self.failures = 0
        self.retries = 0
        self.retried = 0
        self.turned_away = 0
        self.peak_queued = 0
        self._health.on_unreachable(self._release_flushes)

    @property
    def queued(self) -> int:
        """Writes waiting to be stored."""
        return len(self._queue)

    def start(self) -> None:
        """Start the writer task (on the running loop)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="store-writer")

    def submit(self, write: Write, *, essential: bool = False) -> None:
        """Queue a write; it runs after everything queued before it. Never blocks. An
        ``essential`` write (a call's end) is admitted into the reserve beyond the bound."""
        limit = self._max_queued + (self._reserve if essential else 0)
        if len(self._queue) >= limit:
            self._turn_away(essential)
            return
        self._queue.append(write)
        self._admitted += 1
        if len(self._queue) > self.peak_queued:
            self.peak_queued = len(self._queue)
        QUEUED.set(len(self._queue))
        self._has_work.set()

    def on_commit(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after each committed batch (e.g. to wake the webhook dispatcher
        for events those writes queued)."""
        self._on_commit.append(listener)

    async def flush(self) -> None:
        """Wait until everything queued before this call is stored, unless the database is
        unreachable: then return at once (the writes stay queued, in order) so that no call
        waits on the database."""
        if self._health.reachable:
            await self._settle_up_to(self._admitted, during_outage=False)

    async def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Store what is queued, then stop the task. An unreachable database is waited for at
        most ``grace_s``; what is still queued then is lost, counted and logged."""
        if self._task is None:
            return
        try:
            async with asyncio.timeout(grace_s):
                await self._settle_up_to(self._admitted, during_outage=True)
        except TimeoutError:
            lost = len(self._queue)
            DROPPED.labels("shutdown").inc(lost)
            log.error("store.writes_lost_at_shutdown", count=lost, database=self._health.status())
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _settle_up_to(self, target: int, *, during_outage: bool) -> None:
        if self._settled >= target:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((target, done, during_outage))
        await done

    def _release_flushes(self) -> None:
        """An outage began: ``flush()`` callers go on (``stop()`` keeps waiting)."""
        waiting = [waiter for waiter in self._waiters if waiter[2]]
        for _, done, during_outage in self._waiters:
            if not during_outage and not done.done():
                done.set_result(None)
        self._waiters = deque(waiting)

    def _turn_away(self, essential: bool) -> None:
        self.turned_away += 1
        self._turned_away_while_full += 1
        DROPPED.labels("queue-full").inc()
        if not self._full:
            self._full = True
            log.error(
                "store.queue_full",
                queued=len(self._queue),
                limit=self._max_queued,
                essential=essential,
                database=self._health.status(),
            )

    async def _run(self) -> None:
        delay = RETRY_FIRST_S
        while True:
            if not self._queue:
                self._has_work.clear()
                await self._has_work.wait()
                continue
            if self._health.reachable:
                # Let writes of other calls arriving in the same few milliseconds share the
                # transaction: with hundreds of calls a commit per line would dominate the CPU.
                await asyncio.sleep(COALESCE_S)
            batch = list(itertools.islice(self._queue, _MAX_BATCH))
            settled, fault = await self._store(batch)
            self._settle(settled)
            if fault is None:
                if self._holding:
                    self._holding, delay = False, RETRY_FIRST_S
                    log.info("store.writes_resumed", queued=len(self._queue))
                continue
            # Unreachable: keep the rest at the head and try again once the database is back.
            if not self._holding:
                self._holding = True
                log.warning("store.writes_held", queued=len(self._queue), error=describe(fault))
            self._held_until = self._admitted
            self._health.unreachable(fault)
            await self._health.wait_reachable(delay * self._rng.uniform(0.8, 1.2))
            delay = min(delay * 2, RETRY_MAX_S)
            self.retries += 1
            RETRIES.inc()
            # Writes queued while it was down waited it out too.
            self._held_until = self._admitted

    async def _store(self, batch: list[Write]) -> tuple[int, BaseException | None]:
        """Store ``batch`` (the head of the queue); returns how many of its writes are
        settled, and the fault that stopped the rest when the database was unreachable."""
        try:
            await self._attempt(batch)
        except Exception as exc:
            if database_unreachable(exc):
                return 0, exc
            # One bad write must not lose the others: retry them one by one.
            log.warning("store.batch_failed", size=len(batch), error=describe(exc))
        else:
            self._committed()
            return len(batch), None
        for index, write in enumerate(batch):
            try:
                await self._attempt([write])
            except Exception as exc:
                if database_unreachable(exc):
                    return index, exc
                self.failures += 1
                DROPPED.labels("refused").inc()
                if isinstance(exc, DBAPIError):
                    # The database's reason is enough (the statement would log what was said).
                    log.error("store.write_refused", error=describe(exc))
                else:
                    log.exception("store.write_failed")
            else:
                self._committed()
        return len(batch), None

    async def _attempt(self, writes: list[Write]) -> None:
        async with asyncio.timeout(ATTEMPT_TIMEOUT_S), self._database.writing() as session:
            await write_batch(session, writes)

    def _committed(self) -> None:
        self._health.reached()
        for listener in self._on_commit:
            listener()

    def _settle(self, count: int) -> None:
        if count == 0:
            return
        first = self._settled
        for _ in range(count):
            self._queue.popleft()
        self._settled += count
        held = max(0, min(self._settled, self._held_until) - first)
        if held:
            self.retried += held
            RETRIED.inc(held)
        QUEUED.set(len(self._queue))
        if self._full and len(self._queue) < self._max_queued:
            self._full = False
            log.warning("store.queue_has_room", turned_away=self._turned_away_while_full)
            self._turned_away_while_full = 0
        while self._waiters and self._waiters[0][0] <= self._settled:
            _, done, _ = self._waiters.popleft()
            if not done.done():
                done.set_result(None)


async def write_batch(session: AsyncSession, writes: list[Write]) -> None:
    """Run ``writes`` in ``session``'s transaction: the rows first, one executemany ``INSERT``
    per table, then the write functions and the rows' ``then`` in the order queued."""
    rows: dict[type[Base], list[RowInsert]] = {}
    after: list[WriteFunction] = []
    for write in writes:
        if isinstance(write, RowInsert):
            rows.setdefault(write.model, []).append(write)
            if write.then is not None:
                after.append(write.then)
        else:
            after.append(write)
    if rows:
        connection = await session.connection()
        for model, inserts in rows.items():
            values = [
                await sealed_values(session, model, row.tenant_id, row.values) for row in inserts
            ]
            # The mapped class itself: insert(Model) of a Core connection is a table insert.
            await connection.execute(insert(model), values)
    for write in after:
        await write(session)
