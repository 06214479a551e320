"""Tool calls as recorded: ``ToolCallLog`` stores each tool call without making the call wait
for the database (what the call record shows of them is ``aybiza.analytics.automation_records``).
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.store.automation_models import ToolCallRecord
from aybiza.store.database import Database
from aybiza.store.writer import StoreWriter

log = structlog.get_logger(__name__)


class ToolEvents(Protocol):
    """What happens when a tool call is stored (workflows triggered by ``tool.completed``)."""

    async def tool_completed(self, session: AsyncSession, record: ToolCallRecord) -> None:
        """Queue what the event triggers, in the transaction that stores ``record``."""

    def wake(self) -> None:
        """Work was queued and committed: runners should look now."""


class ToolCallLog:
    """Stores tool calls in order: through the process's ``StoreWriter`` when there is one
    (its ``on_commit`` listeners wake the workflow runner), else with a write of its own in a
    background task. ``flush()`` waits until everything submitted so far is stored."""

    def __init__(
        self,
        database: Database,
        writer: StoreWriter | None = None,
        events: ToolEvents | None = None,
    ) -> None:
        self._database = database
        self._writer = writer
        self._events = events
        self._pending: set[asyncio.Task[None]] = set()

    def submit(self, record: ToolCallRecord) -> None:
        """Queue ``record`` for writing; never blocks the call."""
        events = self._events

        async def write(session: AsyncSession) -> None:
            session.add(record)
            if events is None:
                return
            # The record matters more than what it triggers: a failing trigger is rolled back
            # to this savepoint and logged, and the tool call is still stored.
            try:
                async with session.begin_nested():
                    await events.tool_completed(session, record)
            except Exception:
                log.exception("automation.tool_completed_trigger_failed", tool=record.name)

        if self._writer is not None:
            self._writer.submit(write)
            return
        task = asyncio.create_task(self._write(write), name="tool-call-record")
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _write(self, write: Any) -> None:
        try:
            async with self._database.writing() as session:
                await write(session)
        except Exception:
            log.exception("automation.tool_call_record_failed")
            return
        if self._events is not None:
            self._events.wake()

    async def flush(self) -> None:
        """Wait until every submitted record is stored."""
        if self._writer is not None:
            await self._writer.flush()
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
