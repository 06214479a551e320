"""Platform events that start workflow runs: ``call.ended``, ``tool.completed`` and schedules.

Runs are created in the caller's transaction (the one that stores what the event reports), so a
run is never lost nor started for data that was not stored; ``wake()`` after the commit tells the
runner to look at once instead of at its next poll. Each trigger creates a run once (a dedupe
key per workflow and event), however often the event is delivered.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.analytics.automation_records import tool_call_dict
from aybiza.analytics.row_json import row_json
from aybiza.automation.workflows.analysis import agent_analysis_fields
from aybiza.automation.workflows.store import create_run, snapshot
from aybiza.store.automation_models import ToolCallRecord, Workflow
from aybiza.store.models import AgentVersion, Call, utcnow

log = structlog.get_logger(__name__)
POST_CALL = "post_call_analysis"
# What a run knows of its call, as ``{{call.<name>}}`` (``from`` and ``to`` are the numbers).
CALL_CONTEXT_COLUMNS = (
    "id call_sid agent_id agent_version from_number to_number direction ended_reason "
    "transfer_to started_at ended_at"
)


def post_call_definition(fields: Mapping[str, str]) -> dict[str, Any]:
    """The built-in post-call workflow: one extract step that stores the call's analysis."""
    return {
        "name": POST_CALL,
        "trigger": {"event": "call.ended"},
        "steps": [
            {
                "id": "analysis",
                "type": "extract",
                "fields": dict(fields),
                "standard": True,
                "store": True,
                "timeout_s": 120.0,
                "retry": {"max_attempts": 5, "backoff_s": 5.0, "max_backoff_s": 300.0},
            }
        ],
        "secret_sealed": None,
    }


def call_context(call: Call) -> dict[str, Any]:
    """What a run knows about its call (``{{call.*}}``)."""
    return row_json(call, CALL_CONTEXT_COLUMNS, {"from_number": "from", "to_number": "to"})


class WorkflowEvents:
    """Creates runs for events; ``wake`` is called after commits (the runner's ``wake``)."""

    def __init__(self, wake: Callable[[], None] = lambda: None) -> None:
        self._wake = wake

    def wake(self) -> None:
        """Runs were committed: let the runner look now."""
        self._wake()

    async def call_ended(self, session: AsyncSession, call_id: str) -> list[str]:
        """The call is over: the built-in post-call analysis (agents with
        ``automation.async_workflows``) and the tenant's ``call.ended`` workflows; returns the
        ids of the runs created. A failure here is logged and rolled back to a savepoint, so it
        never costs the call record the caller's transaction stores."""
        try:
            async with session.begin_nested():
                return await self._call_ended(session, call_id)
        except Exception:
            log.exception("automation.call_ended_trigger_failed", call=call_id)
            return []

    async def _call_ended(self, session: AsyncSession, call_id: str) -> list[str]:
        call = await session.get(Call, call_id)
        if call is None or call.tenant_id is None:
            return []
        context = {"event": {"type": "call.ended", "call_id": call.id}, "call": call_context(call)}
        created: list[str] = []
        version = (
            await session.get(AgentVersion, call.agent_version_id)
            if call.agent_version_id
            else None
        )
        config = version.config if version is not None else {}
        automation = config.get("automation")
        if isinstance(automation, Mapping) and automation.get("async_workflows"):
            run_id = await create_run(
                session,
                tenant_id=call.tenant_id,
                workflow_id=None,
                name=POST_CALL,
                definition=post_call_definition(agent_analysis_fields(config)),
                trigger_event="call.ended",
                context=context,
                dedupe_key=f"builtin:{POST_CALL}:{call.id}",
                call_id=call.id,
            )
            created.extend([run_id] if run_id else [])
        for workflow in await _subscribed(session, call.tenant_id, "call.ended"):
            agents = workflow.trigger.get("agent_ids")
            if agents is not None and call.agent_id not in agents:
                continue
            run_id = await create_run(
                session,
                tenant_id=call.tenant_id,
                workflow_id=workflow.id,
                name=workflow.name,
                definition=snapshot(workflow),
                trigger_event="call.ended",
                context=context,
                dedupe_key=f"{workflow.id}:call.ended:{call.id}",
                call_id=call.id,
            )
            created.extend([run_id] if run_id else [])
        return created

    async def tool_completed(self, session: AsyncSession, record: ToolCallRecord) -> None:
        """A tool call was stored: the tenant's ``tool.completed`` workflows for that tool."""
        workflows = await _subscribed(session, record.tenant_id, "tool.completed")
        if not workflows:
            return
        call = await session.get(Call, record.call_id)
        context: dict[str, Any] = {
            "event": {"type": "tool.completed", "tool": tool_call_dict(record)},
            "tool": tool_call_dict(record),
        }
        if call is not None:
            context["call"] = call_context(call)
        for workflow in workflows:
            wanted = workflow.trigger.get("tool")
            agents = workflow.trigger.get("agent_ids")
            if wanted is not None and wanted != record.name:
                continue
            if agents is not None and (call is None or call.agent_id not in agents):
                continue
            await create_run(
                session,
                tenant_id=record.tenant_id,
                workflow_id=workflow.id,
                name=workflow.name,
                definition=snapshot(workflow),
                trigger_event="tool.completed",
                context=context,
                dedupe_key=f"{workflow.id}:tool.completed:{record.id}",
                call_id=record.call_id,
            )


async def fire_schedules(session: AsyncSession, now: datetime | None = None) -> list[str]:
    """Start a run for every schedule that is due. Each firing is claimed by moving
    ``next_fire_at`` forward with a conditional update, so of several processes only one fires
    it; a schedule that fell behind (no process ran) fires once, not once per missed interval."""
    now = now or utcnow()
    due = (
        await session.execute(
            select(Workflow).where(Workflow.enabled.is_(True), Workflow.next_fire_at <= now)
        )
    ).scalars()
    created: list[str] = []
    for workflow in list(due):
        every_s = workflow.trigger.get("every_s")
        fired_at = workflow.next_fire_at
        if not isinstance(every_s, int) or fired_at is None:
            continue
        claimed = await session.execute(
            update(Workflow)
            .where(Workflow.id == workflow.id, Workflow.next_fire_at == fired_at)
            .values(next_fire_at=max(fired_at, now) + timedelta(seconds=every_s))
        )
        if not claimed.rowcount:  # type: ignore[attr-defined]
            continue
        run_id = await create_run(
            session,
            tenant_id=workflow.tenant_id,
            workflow_id=workflow.id,
            name=workflow.name,
            definition=snapshot(workflow),
            trigger_event="schedule",
            context={"event": {"type": "schedule", "fired_at": fired_at.isoformat()}},
            dedupe_key=f"{workflow.id}:schedule:{fired_at.isoformat()}",
        )
        created.extend([run_id] if run_id else [])
    return created


async def _subscribed(session: AsyncSession, tenant_id: str, event: str) -> list[Workflow]:
    rows = await session.execute(
        select(Workflow).where(Workflow.tenant_id == tenant_id, Workflow.enabled.is_(True))
    )
    return [row for row in rows.scalars() if row.trigger.get("event") == event]
