"""Deleting what a tenant's retention policy says has been kept long enough, a batch at a time.

Each function removes at most ``batch`` units of one tenant's data older than ``before`` and
returns the rows it removed per kind; a caller repeats until a batch comes back short. Running
one twice removes nothing the second time. A call's own row (its number, times, costs and
per-turn latency) stays: what expires is what was said (transcript lines, the texts of turns,
tool arguments and results, the post-call analysis) and the events sent about it (finished
webhook deliveries, finished workflow runs and their steps).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Executable, delete, null, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.store.automation_models import CallAnalysis, ToolCallRecord, WorkflowRun, WorkflowStep
from aybiza.store.models import Call, Tenant, TranscriptLine, Turn, WebhookDelivery, utcnow

# What ``batch`` counts: a batch that removed this many of one of these left work behind.
BATCH_UNITS = ("calls", "webhook_deliveries", "workflow_runs")


async def affected(session: AsyncSession, statement: Executable) -> int:
    """Run a DELETE or UPDATE; how many rows it touched."""
    result = cast(CursorResult[Any], await session.execute(statement))
    return int(result.rowcount or 0)


async def tenants_with_retention(session: AsyncSession) -> list[Tenant]:
    """Every tenant that keeps transcripts or events for a limited time."""
    rows = await session.execute(
        select(Tenant).where(
            or_(
                Tenant.retention_transcripts_days.is_not(None),
                Tenant.retention_events_days.is_not(None),
                Tenant.retention_recordings_days.is_not(None),
            )
        )
    )
    return list(rows.scalars())


async def expire_transcripts(
    session: AsyncSession, tenant_id: str, before: datetime, batch: int
) -> dict[str, int]:
    """What was said on up to ``batch`` of the tenant's calls that started before
    ``before``: transcript lines, turn texts, tool calls and analysis; the calls note when
    (``transcript_expired_at``), so no column that may be sealed at rest is compared."""
    ids = list(
        (
            await session.execute(
                select(Call.id)
                .where(
                    Call.tenant_id == tenant_id,
                    Call.created_at < before,
                    Call.transcript_expired_at.is_(None),
                )
                .limit(batch)
            )
        ).scalars()
    )
    if not ids:
        return {"calls": 0}
    counts = {"calls": len(ids)}
    for kind, model in (
        ("transcript_lines", TranscriptLine),
        ("tool_calls", ToolCallRecord),
        ("call_analysis", CallAnalysis),
    ):
        counts[kind] = await affected(session, delete(model).where(model.call_id.in_(ids)))
    blank = (
        update(Turn).where(Turn.call_id.in_(ids)).values(user_text="", agent_text="", heard_text="")
    )
    counts["turns"] = await affected(session, blank)
    expired = update(Call).where(Call.id.in_(ids)).values(transcript_expired_at=utcnow())
    await affected(session, expired)
    return counts


async def expired_recordings(
    session: AsyncSession, tenant_id: str, before: datetime, batch: int
) -> dict[str, str]:
    """Up to ``batch`` of the tenant's calls older than ``before`` that still have a stored
    recording: call id -> the recording's key in the recording store."""
    rows = await session.execute(
        select(Call.id, Call.recording)
        .where(Call.tenant_id == tenant_id, Call.created_at < before, Call.recording.is_not(None))
        .limit(batch)
    )
    return {row.id: str((row.recording or {}).get("key", "")) for row in rows}


async def forget_recordings(session: AsyncSession, call_ids: list[str]) -> int:
    """The calls no longer have a recording (its file was deleted)."""
    statement = update(Call).where(Call.id.in_(call_ids)).values(recording=null())
    return await affected(session, statement)


async def expire_events(
    session: AsyncSession, tenant_id: str, before: datetime, batch: int
) -> dict[str, int]:
    """Up to ``batch`` of the tenant's finished webhook deliveries and finished workflow runs
    (with their steps) created before ``before``."""
    deliveries = select(WebhookDelivery.id).where(
        WebhookDelivery.tenant_id == tenant_id,
        WebhookDelivery.created_at < before,
        WebhookDelivery.status != "pending",
    )
    delivery_ids = list((await session.execute(deliveries.limit(batch))).scalars())
    runs = select(WorkflowRun.id).where(
        WorkflowRun.tenant_id == tenant_id,
        WorkflowRun.created_at < before,
        WorkflowRun.finished_at.is_not(None),
    )
    run_ids = list((await session.execute(runs.limit(batch))).scalars())
    counts = {"webhook_deliveries": 0, "workflow_steps": 0, "workflow_runs": 0}
    if delivery_ids:
        counts["webhook_deliveries"] = await affected(
            session, delete(WebhookDelivery).where(WebhookDelivery.id.in_(delivery_ids))
        )
    if run_ids:
        counts["workflow_steps"] = await affected(
            session, delete(WorkflowStep).where(WorkflowStep.run_id.in_(run_ids))
        )
        counts["workflow_runs"] = await affected(
            session, delete(WorkflowRun).where(WorkflowRun.id.in_(run_ids))
        )
    return counts
