"""What a call's record shows of automation: its tool calls, workflow runs and post-call
analysis, as ``GET /v1/calls/{id}`` and the ``call.ended`` webhook carry them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.store.automation_models import CallAnalysis, ToolCallRecord, WorkflowRun


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


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
