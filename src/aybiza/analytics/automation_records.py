"""What a call's record shows of automation: its tool calls, workflow runs and post-call
analysis, as ``GET /v1/calls/{id}`` and the ``call.ended`` webhook carry them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.analytics.row_json import row_json
from aybiza.store.automation_models import CallAnalysis, ToolCallRecord, WorkflowRun

# What the API shows of each row (secrets in arguments and results are redacted when stored).
TOOL_CALL_COLUMNS = (
    "id tool_call_id name kind arguments result outcome attempts started_at finished_at duration_ms"
)
ANALYSIS_COLUMNS = (
    "method summary sentiment success success_reason fields run_id created_at updated_at"
)
RUN_COLUMNS = "id workflow_id name trigger_event status error created_at finished_at"


def tool_call_dict(row: ToolCallRecord) -> dict[str, Any]:
    """One tool call as the API shows it."""
    return row_json(row, TOOL_CALL_COLUMNS)


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
    return row_json(row, ANALYSIS_COLUMNS)


async def workflow_runs_for_call(session: AsyncSession, call_id: str) -> list[dict[str, Any]]:
    """The workflow runs a call triggered, with their status (for the call record)."""
    rows = await session.execute(
        select(WorkflowRun).where(WorkflowRun.call_id == call_id).order_by(WorkflowRun.created_at)
    )
    return [row_json(run, RUN_COLUMNS, {"trigger_event": "trigger"}) for run in rows.scalars()]
