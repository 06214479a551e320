"""Tool calls as recorded, and what the lead's call record shows of automation.

``tool_calls_for_call`` and ``analysis_for_call`` give ``GET /v1/calls/{id}`` the tool calls
made during the call and the post-call analysis; ``ToolCallLog`` stores each tool call without
making the call wait for the database.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.store.automation_models import CallAnalysis, ToolCallRecord, WorkflowRun
from aybiza.store.database import Database
from aybiza.store.writer import StoreWriter

log = structlog.get_logger(__name__)


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


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


def tool_call_dict(row: ToolCallRecord) -> dict[str, Any]:
    """One tool call as the API shows it."""
    return {
        "id": row.id,
        "tool_call_id": row.tool_call_id,
        "name": row.name,
        "kind": row.kind,
        "arguments": row.arguments,
        "result": row.result,
        "outcome": row.outcome,
        "attempts": row.attempts,
        "started_at": _iso(row.started_at),
        "finished_at": _iso(row.finished_at),
        "duration_ms": row.duration_ms,
    }


async def tool_calls_for_call(session: AsyncSession, call_id: str) -> list[dict[str, Any]]:
    """Every tool call made during the call, in order, as JSON-ready dicts (arguments and
    results with secrets redacted). The caller checks the call belongs to the tenant."""
    rows = await session.execute(
        select(ToolCallRecord)
        .where(ToolCallRecord.call_id == call_id)
        .order_by(ToolCallRecord.started_at, ToolCallRecord.id)
    )
    return [tool_call_dict(row) for row in rows.scalars()]


async def analysis_for_call(session: AsyncSession, call_id: str) -> dict[str, Any] | None:
    """The post-call analysis of the call (None until it ran): ``summary``, ``sentiment``,
    ``success``, ``success_reason``, the agent's ``fields``, and ``method`` (which extractor
    produced it)."""
    row = await session.get(CallAnalysis, call_id)
    if row is None:
        return None
    return {
        "method": row.method,
        "summary": row.summary,
        "sentiment": row.sentiment,
        "success": row.success,
        "success_reason": row.success_reason,
        "fields": row.fields,
        "run_id": row.run_id,
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
    }


async def workflow_runs_for_call(session: AsyncSession, call_id: str) -> list[dict[str, Any]]:
    """The workflow runs a call triggered, with their status (for the call record)."""
    rows = await session.execute(
        select(WorkflowRun).where(WorkflowRun.call_id == call_id).order_by(WorkflowRun.created_at)
    )
    return [
        {
            "id": run.id,
            "workflow_id": run.workflow_id,
            "name": run.name,
            "trigger": run.trigger_event,
            "status": run.status,
            "error": run.error,
            "created_at": _iso(run.created_at),
            "finished_at": _iso(run.finished_at),
        }
        for run in rows.scalars()
    ]
