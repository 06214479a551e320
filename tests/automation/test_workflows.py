"""Workflows run by the in-process runner: steps in order with templates, signed requests with
idempotency keys, condition branches, retries with backoff, permanent failures, delays,
schedules, and triggers that fire once per event."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from tests.automation.helpers import CALLER, make_agent, make_call, make_tenant
from tests.automation.receiver import Answer, Receiver
from tests.automation.workflow_helpers import (
    automation,
    call_ended,
    create_workflow,
    finished,
    steps_of,
)

from aybiza.automation.platform import Automation
from aybiza.automation.workflows.runners import fire_due_schedules
from aybiza.security.secretbox import HmacSecretBox
from aybiza.store.automation_models import Workflow, WorkflowRun
from aybiza.store.database import Database
from aybiza.store.models import utcnow


@pytest.fixture
async def engine(database: Database, box: HmacSecretBox) -> AsyncIterator[Automation]:
    running = automation(database, box)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


async def ended_call(engine: Automation, tenant: str) -> str:
    version = await make_agent(engine.database, tenant, {"name": "A", "system_prompt": "Hi."})
    return await make_call(engine.database, tenant, version, lines=[("caller", "Hello there")])


async def test_steps_run_in_order_signed_with_idempotency_keys_and_filled_templates(
    engine: Automation, receiver: Receiver
) -> None:
    tenant = await make_tenant(engine.database)
    workflow = {
        "name": "crm",
        "trigger": {"event": "call.ended"},
        "steps": [
            {
                "id": "crm",
                "type": "http",
                "url": receiver.url("/crm"),
                "headers": {"X-Crm-Token": "tok-{{call.id}}"},
                "body": {
                    "call": "{{call.id}}",
                    "caller": "{{call.from}}",
                    "note": "from {{call.from}}",
                },
            },
            {
                "id": "notify",
                "type": "webhook",
                "url": receiver.url("/notify"),
                "event": "crm.updated",
            },
        ],
    }
    made = await engine.workflows.create(
        tenant,
        __import__(
            "aybiza.automation.workflows.spec", fromlist=["WorkflowCreate"]
        ).WorkflowCreate.model_validate(workflow),
    )
    receiver.secret = made.secret
    call_id = await ended_call(engine, tenant)
    [run_id] = await call_ended(engine, call_id)
    run = await finished(engine.database, run_id)
    assert run.status == "completed", run.error
    crm, notify = receiver.seen
    assert (crm.path, notify.path) == ("/crm", "/notify")
    assert crm.signed and notify.signed
    assert crm.json == {"call": call_id, "caller": CALLER, "note": f"from {CALLER}"}
    assert crm.headers["x-crm-token"] == f"tok-{call_id}"
    assert crm.key == f"{run_id}:crm" and notify.key == f"{run_id}:notify"
    envelope = notify.json
    assert envelope["id"] == f"{run_id}:notify" and envelope["type"] == "crm.updated"
    assert envelope["data"]["call"]["id"] == call_id
    assert envelope["data"]["steps"]["crm"]["data"]["echo"]["call"] == call_id
    steps = await steps_of(engine.database, run_id)
    assert [steps[s].status for s in ("crm", "notify")] == ["completed", "completed"]
    assert steps["crm"].request["headers"] == {"X-Crm-Token": "[redacted]"}


async def test_a_condition_sends_the_run_down_one_branch(
    engine: Automation, receiver: Receiver
) -> None:
    tenant = await make_tenant(engine.database)
    await create_workflow(
        engine,
        tenant,
        {
            "name": "route",
            "trigger": {"event": "call.ended"},
            "steps": [
                {"id": "lookup", "type": "http", "url": receiver.url("/lookup")},
                {
                    "id": "is_vip",
                    "type": "condition",
                    "if": {"path": "steps.lookup.data.vip", "op": "eq", "value": True},
                    "then": "vip",
                    "else": "regular",
                },
                {"id": "vip", "type": "http", "url": receiver.url("/vip")},
                {
                    "id": "vip_done",
                    "type": "condition",
                    "if": {"path": "run.id", "op": "exists"},
                    "then": "end",
                },
                {"id": "regular", "type": "http", "url": receiver.url("/regular")},
            ],
        },
    )
    receiver.script("/lookup", Answer(json_body={"vip": True}), Answer(json_body={"vip": False}))
    first = (await call_ended(engine, await ended_call(engine, tenant)))[0]
    await finished(engine.database, first)
    second = (await call_ended(engine, await ended_call(engine, tenant)))[0]
    await finished(engine.database, second)
    assert [s.path for s in receiver.seen] == ["/lookup", "/vip", "/lookup", "/regular"]
    assert set(await steps_of(engine.database, first)) == {"lookup", "is_vip", "vip", "vip_done"}
    assert (await steps_of(engine.database, second))["is_vip"].output == {
        "result": False,
        "next": "regular",
    }


async def test_a_failing_step_is_retried_with_exponential_backoff_then_completes(
    engine: Automation, receiver: Receiver
) -> None:
    tenant = await make_tenant(engine.database)
    await create_workflow(
        engine,
        tenant,
        {
            "name": "flaky",
            "trigger": {"event": "call.ended"},
            "steps": [
                {
                    "id": "push",
                    "type": "http",
                    "url": receiver.url("/push"),
                    "retry": {"max_attempts": 4, "backoff_s": 0.3},
                }
            ],
        },
    )
    receiver.script("/push", Answer(status=500), Answer(status=503))
    [run_id] = await call_ended(engine, await ended_call(engine, tenant))
    run = await finished(engine.database, run_id)
    assert run.status == "completed"
    attempts = receiver.to("/push")
    assert len(attempts) == 3 and len({a.key for a in attempts}) == 1
    times = [a.at for a in attempts]
    assert times[1] - times[0] >= 0.3 and times[2] - times[1] >= 0.6
    assert (await steps_of(engine.database, run_id))["push"].attempts == 3


async def test_a_client_error_fails_the_run_at_once_and_attempts_run_out_on_server_errors(
    engine: Automation, receiver: Receiver
) -> None:
    tenant = await make_tenant(engine.database)
    for name, path, attempts in (("bad", "/bad", 5), ("down", "/down", 2)):
        await create_workflow(
            engine,
            tenant,
            {
                "name": name,
                "trigger": {"event": "call.ended"},
                "steps": [
                    {
                        "id": "send",
                        "type": "http",
                        "url": receiver.url(path),
                        "retry": {"max_attempts": attempts, "backoff_s": 0.05},
                    },
                    {"id": "after", "type": "http", "url": receiver.url("/after")},
                ],
            },
        )
    receiver.script("/bad", Answer(status=400, json_body={"error": "no such customer"}))
    receiver.script("/down", *[Answer(status=500)] * 2)
    runs = await call_ended(engine, await ended_call(engine, tenant))
    results = [await finished(engine.database, run_id) for run_id in runs]
    assert [r.status for r in results] == ["failed", "failed"]
    errors = sorted(r.error or "" for r in results)
    assert "step send failed after 1 attempt(s): HTTP 400" in errors[0]
    assert "step send failed after 2 attempt(s): HTTP 500" in errors[1]
    assert len(receiver.to("/bad")) == 1 and len(receiver.to("/down")) == 2
    assert receiver.to("/after") == []


async def test_a_delay_step_waits_in_the_database_before_the_next_step(
    engine: Automation, receiver: Receiver
) -> None:
    tenant = await make_tenant(engine.database)
    await create_workflow(
        engine,
        tenant,
        {
            "name": "later",
            "trigger": {"event": "call.ended"},
            "steps": [
                {"id": "now", "type": "http", "url": receiver.url("/now")},
                {"id": "wait", "type": "delay", "seconds": 0.5},
                {"id": "later", "type": "http", "url": receiver.url("/later")},
            ],
        },
    )
    [run_id] = await call_ended(engine, await ended_call(engine, tenant))
    await finished(engine.database, run_id)
    now, later = receiver.seen
    assert later.at - now.at >= 0.5
    assert (await steps_of(engine.database, run_id))["wait"].status == "completed"


async def test_an_event_delivered_twice_starts_one_run(
    engine: Automation, receiver: Receiver
) -> None:
    tenant = await make_tenant(engine.database)
    await create_workflow(
        engine,
        tenant,
        {
            "name": "once",
            "trigger": {"event": "call.ended"},
            "steps": [{"id": "send", "type": "http", "url": receiver.url("/once")}],
        },
    )
    call_id = await ended_call(engine, tenant)
    first, second = await call_ended(engine, call_id), await call_ended(engine, call_id)
    assert len(first) == 1 and second == []
    await finished(engine.database, first[0])
    assert len(receiver.to("/once")) == 1


async def test_schedules_fire_once_per_interval_across_processes(
    database: Database, box: HmacSecretBox, receiver: Receiver
) -> None:
    engine = automation(database, box)
    tenant = await make_tenant(database)
    workflow_id = await create_workflow(
        engine,
        tenant,
        {
            "name": "nightly",
            "trigger": {"event": "schedule", "every_s": 3600},
            "steps": [{"id": "tick", "type": "http", "url": receiver.url("/tick")}],
        },
    )
    async with database.writing() as session:
        await session.execute(
            update(Workflow)
            .where(Workflow.id == workflow_id)
            .values(next_fire_at=utcnow() - timedelta(seconds=1))
        )
    fired = await asyncio.gather(*(fire_due_schedules(database) for _ in range(3)))
    assert sum(len(ids) for ids in fired) == 1
    async with database.session() as session:
        runs = (await session.execute(select(func.count(WorkflowRun.id)))).scalar_one()
        row = await session.get(Workflow, workflow_id)
    assert runs == 1
    assert row is not None and row.next_fire_at is not None
    assert row.next_fire_at > utcnow() + timedelta(seconds=3500)
    await engine.start()
    try:
        run_id = next(ids[0] for ids in fired if ids)
        assert (await finished(database, run_id)).status == "completed"
    finally:
        await engine.stop()
    assert len(receiver.to("/tick")) == 1
