"""The retention sweep on the server's database: backdated calls lose what was said on them,
backdated finished webhook deliveries and workflow runs go, newer data and pending deliveries
stay; batches repeat until done, a second sweep removes nothing, and each sweep that removed
something is in the tenant's audit log."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, select
from tests.api.conftest import ApiServer, Tenant

from aybiza.services.retention import RetentionSweep
from aybiza.store.automation_models import CallAnalysis, ToolCallRecord, WorkflowRun, WorkflowStep
from aybiza.store.models import (
    Call,
    TranscriptLine,
    Turn,
    WebhookDelivery,
    WebhookEndpoint,
    new_id,
    utcnow,
)
from aybiza.store.recording_files import LocalRecordingStore


async def _seed(
    api: ApiServer, tenant_id: str, recordings: LocalRecordingStore
) -> dict[str, list[str]]:
    """Three old calls and one new, each with what was said; old and new deliveries and runs."""
    now = utcnow()
    old, new = now - timedelta(days=40), now - timedelta(days=1)
    made: dict[str, list[str]] = {"old_calls": [], "new_calls": [], "deliveries": [], "runs": []}
    async with api.app.state.database.writing() as session:
        endpoint = WebhookEndpoint(
            tenant_id=tenant_id, url="http://127.0.0.1:9/hook", events=[], secret_sealed="x"
        )
        session.add(endpoint)
        await session.flush()
        for at, kind in (
            (old, "old_calls"),
            (old, "old_calls"),
            (old, "old_calls"),
            (new, "new_calls"),
        ):
            call = Call(
                tenant_id=tenant_id,
                call_sid="CA" + secrets.token_hex(16),
                status="completed",
                created_at=at,
                ended_at=at,
            )
            session.add(call)
            await session.flush()
            made[kind].append(call.id)
            key = f"{tenant_id}/{call.id}.wav"
            call.recording = {"key": key, "duration_s": 1.0, "channels": 2, "bytes": 4}
            await recordings.put(key, b"RIFF", "audio/wav")
            session.add_all(
                [
                    TranscriptLine(
                        tenant_id=tenant_id,
                        call_id=call.id,
                        seq=0,
                        speaker="caller",
                        text="my account is 1234",
                        at=at,
                    ),
                    Turn(
                        tenant_id=tenant_id,
                        call_id=call.id,
                        index=0,
                        user_text="my account",
                        agent_text="thanks",
                        heard_text="thanks",
                        timings_ms={"llm": 120.0},
                    ),
                    ToolCallRecord(
                        tenant_id=tenant_id,
                        call_id=call.id,
                        tool_call_id="t1",
                        name="lookup",
                        kind="http",
                        arguments={"account": "1234"},
                        result={},
                        outcome="ok",
                    ),
                    CallAnalysis(
                        tenant_id=tenant_id,
                        call_id=call.id,
                        method="embedded-rules",
                        summary="asked about an account",
                    ),
                ]
            )
        for at, status in (
            (old - timedelta(days=60), "delivered"),
            (old - timedelta(days=60), "pending"),
            (new, "delivered"),
        ):
            delivery = WebhookDelivery(
                id=new_id(),
                tenant_id=tenant_id,
                endpoint_id=endpoint.id,
                event_id=new_id(),
                event="call.ended",
                body="{}",
                status=status,
                created_at=at,
            )
            session.add(delivery)
            made["deliveries"].append(delivery.id)
        for at, finished in ((old - timedelta(days=60), True), (new, True)):
            run = WorkflowRun(
                tenant_id=tenant_id,
                name="post-call",
                definition={},
                trigger_event="call.ended",
                context={},
                dedupe_key=new_id(),
                status="completed",
                created_at=at,
                finished_at=at if finished else None,
            )
            session.add(run)
            await session.flush()
            session.add(
                WorkflowStep(
                    tenant_id=tenant_id,
                    run_id=run.id,
                    step_id="s",
                    position=0,
                    type="http",
                    idempotency_key=new_id(),
                    status="completed",
                )
            )
            made["runs"].append(run.id)
    return made


async def _count(api: ApiServer, model: type, *where: object) -> int:
    async with api.app.state.database.session() as session:
        query = select(func.count()).select_from(model).where(*where)  # type: ignore[arg-type]
        return int((await session.execute(query)).scalar_one())


def test_the_sweep_deletes_what_the_tenants_policy_expired(
    api: ApiServer, tenant: Tenant, http: httpx.Client, tmp_path: Path
) -> None:
    recordings = LocalRecordingStore(tmp_path)
    made = api.run(_seed(api, tenant.id, recordings))
    policy = {"transcripts_days": 30, "events_days": 90, "recordings_days": 7}
    response = http.put("/v1/tenant/retention", json=policy)
    assert response.status_code == 200, response.text
    sweep = RetentionSweep(api.app.state.database, recordings, batch=2)

    first = api.run(sweep.sweep())
    assert first.more, "a batch of 2 calls out of 3 leaves work behind"
    while api.run(sweep.sweep()).more:
        pass

    old, new = made["old_calls"], made["new_calls"]
    for model in (TranscriptLine, ToolCallRecord, CallAnalysis):
        assert api.run(_count(api, model, model.call_id.in_(old))) == 0, model
        assert api.run(_count(api, model, model.call_id.in_(new))) == 1, model
    blank = (
        Turn.call_id.in_(old),
        Turn.user_text == "",
        Turn.agent_text == "",
        Turn.heard_text == "",
    )
    assert api.run(_count(api, Turn, *blank)) == 3
    assert api.run(_count(api, Call, Call.id.in_(old + new))) == 4
    expired = Call.transcript_expired_at.is_not(None)
    assert api.run(_count(api, Call, Call.id.in_(old), expired)) == 3
    assert api.run(_count(api, Call, Call.id.in_(new), expired)) == 0
    old_delivered, old_pending, new_delivered = made["deliveries"]
    assert api.run(_count(api, WebhookDelivery, WebhookDelivery.id == old_delivered)) == 0
    kept = WebhookDelivery.id.in_([old_pending, new_delivered])
    assert api.run(_count(api, WebhookDelivery, kept)) == 2
    old_run, new_run = made["runs"]
    assert api.run(_count(api, WorkflowRun, WorkflowRun.id == old_run)) == 0
    assert api.run(_count(api, WorkflowStep, WorkflowStep.run_id == old_run)) == 0
    assert api.run(_count(api, WorkflowRun, WorkflowRun.id == new_run)) == 1

    again = api.run(sweep.sweep())
    assert tenant.id not in again.deleted and not again.more
    swept = http.get("/v1/audit-events", params={"action": "retention.swept"}).json()["data"]
    assert len(swept) >= 2
    totals: dict[str, int] = {}
    for event in swept:
        assert event["actor"]["kind"] == "system"
        assert event["details"]["policy"] == policy
        for kind, count in event["details"]["deleted"].items():
            totals[kind] = totals.get(kind, 0) + count
    assert totals["transcript_lines"] == 3 and totals["webhook_deliveries"] == 1
    assert totals["workflow_runs"] == 1 and totals["calls"] == 3
    # The old calls' recordings are gone from the store and from the calls; the new one stays.
    assert totals["recordings"] == 3
    assert sorted(path.stem for path in (tmp_path / tenant.id).iterdir()) == new
    has_recording = Call.recording.is_not(None)
    assert api.run(_count(api, Call, Call.id.in_(old), has_recording)) == 0
    assert api.run(_count(api, Call, Call.id.in_(new), has_recording)) == 1
