"""A single writer task per process that persists call events in order, as they happen.

Calls never wait on the database: they enqueue a write and go on. The writer commits each batch
of queued writes at once, so a turn or transcript line reaches disk within milliseconds of being
said (a crash loses nothing already written) while SQLite sees one writer, never a lock storm.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.store.database import Database

Write = Callable[[AsyncSession], Awaitable[None]]
log = structlog.get_logger(__name__)

_MAX_BATCH = 200
# How long a write may wait for others to share its commit (it is still on disk within ~20 ms).
COALESCE_S = 0.015


class StoreWriter:
    """Orders and batches writes; ``flush()`` waits until everything queued so far is stored."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._on_commit: list[Callable[[], None]] = []
        self._queue: asyncio.Queue[Write | asyncio.Future[None]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.failures = 0

    def start(self) -> None:
        """Start the writer task (on the running loop)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="store-writer")

    def submit(self, write: Write) -> None:
        """Queue a write; it runs after everything queued before it."""
        self._queue.put_nowait(write)

    def on_commit(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after each committed batch (e.g. to wake the webhook dispatcher
        for events those writes queued)."""
        self._on_commit.append(listener)

    async def flush(self) -> None:
        """Wait until everything queued before this call is stored."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(done)
        await done

    async def stop(self) -> None:
        """Store what is queued, then stop the task."""
        if self._task is None:
            return
        await self.flush()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            # Let writes of other calls arriving in the same few milliseconds share the
            # transaction: with hundreds of calls a commit per line would dominate the CPU.
            await asyncio.sleep(COALESCE_S)
            while not self._queue.empty() and len(batch) < _MAX_BATCH:
                batch.append(self._queue.get_nowait())
            await self._write_batch(batch)

    async def _write_batch(self, batch: list[Write | asyncio.Future[None]]) -> None:
        writes = [item for item in batch if not isinstance(item, asyncio.Future)]
        if writes:
            try:
                async with self._database.writing() as session:
                    for write in writes:
                        await write(session)
            except Exception:
                # One bad write must not lose the others: retry them one by one.
                log.exception("store.batch_failed", size=len(writes))
                for write in writes:
                    await self._write_one(write)
            for listener in self._on_commit:
                listener()
        for item in batch:
            if isinstance(item, asyncio.Future) and not item.done():
                item.set_result(None)

    async def _write_one(self, write: Write) -> None:
        try:
            async with self._database.writing() as session:
                await write(session)
        except Exception:
            self.failures += 1
            log.exception("store.write_failed")
