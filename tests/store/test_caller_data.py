"""``calls_for_caller`` finds a caller's calls in both directions and only in one tenant;
``erase_caller`` deletes them with what hangs off them and leaves every other call alone."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

from sqlalchemy import func, select

from aybiza.store.automation_models import WorkflowRun, WorkflowStep
from aybiza.store.caller_data import calls_for_caller, erase_caller
from aybiza.store.database import Database
from aybiza.store.migrate import upgrade_to_head
from aybiza.store.models import (
    Call,
    Tenant,
    TranscriptLine,
    WebhookDelivery,
    WebhookEndpoint,
    new_id,
)

CALLER, OTHER = "+15550100001", "+15550100002"


def _call(tenant_id: str, direction: str, from_: str, to: str) -> Call:
    return Call(
        tenant_id=tenant_id,
        call_sid="CA" + secrets.token_hex(16),
        direction=direction,
        from_number=from_,
        to_number=to,
        status="completed",
    )


async def _scenario(url: str) -> tuple[list[str], dict[str, int], int, int, list[str]]:
    database = Database(url)
    try:
        await upgrade_to_head(database)
        async with database.writing() as session:
            ours, theirs = Tenant(name="ours"), Tenant(name="theirs")
            session.add_all([ours, theirs])
            await session.flush()
            calls = [
                _call(ours.id, "inbound", CALLER, "+15550109999"),
                _call(ours.id, "outbound-api", "+15550109999", CALLER),
                _call(ours.id, "inbound", OTHER, "+15550109999"),
                # The caller's number as the tenant's side of a call is not the caller.
                _call(ours.id, "outbound-api", CALLER, OTHER),
                _call(theirs.id, "inbound", CALLER, "+15550108888"),
            ]
            session.add_all(calls)
            endpoint = WebhookEndpoint(
                tenant_id=ours.id, url="http://127.0.0.1:9/", events=[], secret_sealed="x"
            )
            session.add(endpoint)
            await session.flush()
            for call in calls:
                line = TranscriptLine(
                    tenant_id=call.tenant_id, call_id=call.id, seq=0, speaker="caller", text="hi"
                )
                run = WorkflowRun(
                    tenant_id=call.tenant_id,
                    name="post-call",
                    definition={},
                    trigger_event="call.ended",
                    context={},
                    dedupe_key=new_id(),
                    call_id=call.id,
                )
                session.add_all([line, run])
                await session.flush()
                step = WorkflowStep(
                    tenant_id=call.tenant_id,
                    run_id=run.id,
                    step_id="s",
                    position=0,
                    type="http",
                    idempotency_key=new_id(),
                )
                delivery = WebhookDelivery(
                    tenant_id=ours.id,
                    endpoint_id=endpoint.id,
                    event_id=new_id(),
                    event="call.ended",
                    body="{}",
                    call_id=call.id,
                )
                session.add_all([step, delivery])
        async with database.writing() as session:
            found = await calls_for_caller(session, ours.id, CALLER)
            erased = await erase_caller(session, ours.id, [call.id for call in found])
        async with database.session() as session:
            left = (await session.execute(select(func.count(Call.id)))).scalar_one()
            lines = (await session.execute(select(func.count(TranscriptLine.id)))).scalar_one()
        return [call.id for call in found], erased, left, lines, [c.id for c in calls[:2]]
    finally:
        await database.dispose()


def test_a_callers_calls_in_both_directions_go_and_nothing_else(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'callers.db'}"
    found, erased, left, lines, expected = asyncio.run(_scenario(url))
    assert sorted(found) == sorted(expected)
    assert erased == {
        "transcript_lines": 2,
        "turns": 0,
        "tool_calls": 0,
        "call_analysis": 0,
        "workflow_steps": 2,
        "workflow_runs": 2,
        "webhook_deliveries": 2,
        "calls": 2,
    }
    assert (left, lines) == (3, 3)
