"""``DELETE /v1/callers/{number}``: real calls from a caller (Twilio Media Streams through the
simulator, the demo agent on the embedded engines, signed webhooks to a receiver, the post-call
analysis workflow) are erased, and then no row of any table of the database holds the caller's
number or the ids of their calls; another caller's call stays; the audit log records the erasure
by a keyed digest and its hash chains stay intact."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from tests.api.conftest import ApiServer, Tenant
from tests.api.helpers import create_agent, create_number, demo_agent_body, new_e164, ring
from tests.api.receiver import Receiver

from aybiza.simulator.twilio_client import SimulatedCall
from aybiza.store.automation_models import WorkflowRun
from aybiza.store.database import Database
from aybiza.store.models import Base, Call, new_id, utcnow
from aybiza.store.tenant_rows import document


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


async def _stored_rows(database: Database) -> list[str]:
    """Every row of every table, as text: as stored, and as the models read it (columns
    sealed at rest opened), so a number is found either way."""
    rows: list[str] = []
    async with database.session() as session:
        for table in Base.metadata.sorted_tables:
            rows += [repr(tuple(row)) for row in (await session.execute(select(table))).all()]
        for mapper in Base.registry.mappers:
            found = (await session.execute(select(mapper.class_))).scalars()
            rows += [repr(document(row)) for row in found]
    return rows


async def _call(api: ApiServer, number: str, caller: str) -> str:
    call = await SimulatedCall.dial(api.base_url, to=number, from_=caller)
    async with call:
        await call.wait_for_agent_audio(timeout=30)
        await call.wait_until_agent_done(timeout=30)
    return call.call_sid


async def _analysed(http: httpx.AsyncClient, call_sid: str) -> dict[str, Any]:
    for _ in range(600):
        record: dict[str, Any] = (await http.get(f"/v1/calls/{call_sid}")).json()
        if record.get("analysis") and record.get("ended_reason") and record.get("recording"):
            return record
        await asyncio.sleep(0.05)
    raise AssertionError(f"call {call_sid} was never analysed")


async def test_an_erased_caller_leaves_nothing_behind(
    api: ApiServer, tenant: Tenant, receiver: Receiver
) -> None:
    setup = api.client(tenant.key)
    hook = setup.post(
        "/v1/webhooks",
        json={"url": receiver.url, "events": ["call.started", "call.ended", "transcript.final"]},
    )
    assert hook.status_code == 201, hook.text
    receiver.secrets.append(hook.json()["secret"])
    recorded = demo_agent_body(recording={"enabled": True})
    number = create_number(setup, create_agent(setup, recorded)["id"])["number"]
    caller, other = new_e164(), new_e164()

    async with asyncio.timeout(120):
        sids = [await _call(api, number, caller) for _ in range(2)]
        kept = await _call(api, number, other)
    await asyncio.to_thread(receiver.wait_for, 3, "call.ended")
    async with api.aclient(tenant.key) as http:
        records = [await _analysed(http, sid) for sid in [*sids, kept]]
        call_ids = [record["id"] for record in records[:2]]
        stored_audio = api.data_dir / "recordings" / tenant.id
        assert {path.stem for path in stored_audio.iterdir()} == {r["id"] for r in records}
        before = await api.arun(_stored_rows(api.app.state.database))
        assert [row for row in before if caller in row], "the calls stored the caller's number"

        erased = await http.delete(f"/v1/callers/{caller}")
        assert erased.status_code == 200, erased.text
        body = erased.json()
        assert body["erased"]["calls"] == 2
        assert body["erased"]["recordings"] == 2
        assert {path.stem for path in stored_audio.iterdir()} == {records[2]["id"]}
        assert body["erased"]["transcript_lines"] >= 2
        assert body["erased"]["webhook_deliveries"] >= 4
        assert body["erased"]["workflow_runs"] >= 2
        assert body["caller_digest"].startswith("hmac-sha256:")

        stored = await api.arun(_stored_rows(api.app.state.database))
        for trace in (caller, caller.removeprefix("+"), *sids, *call_ids):
            assert not [row for row in stored if trace in row], trace
        assert [row for row in stored if other in row], "the other caller's call was kept"
        for sid in sids:
            assert (await http.get(f"/v1/calls/{sid}")).status_code == 404
        assert (await http.get(f"/v1/calls/{kept}")).status_code == 200

        events = (await http.get("/v1/audit-events", params={"action": "caller.erased"})).json()
        [event] = events["data"]
        assert event["target"] == {"type": "caller", "id": body["caller_digest"]}
        assert event["request"] == "DELETE /v1/callers/{number}"
        assert event["details"]["erased"] == body["erased"]

        again = await http.delete(f"/v1/callers/{caller}")
        assert again.status_code == 200, again.text
        assert set(again.json()["erased"].values()) == {0}
        assert again.json()["caller_digest"] == body["caller_digest"]
    verification = await api.arun(api.app.state.access.audit.verify(tenant.id))
    assert verification.intact, verification.problems


@pytest.mark.parametrize("number", ["15551234567", "+0123456789", "+1555abc4567", "+1234"])
def test_a_number_that_is_not_e164_is_refused_naming_the_field(
    http: httpx.Client, number: str
) -> None:
    response = http.delete(f"/v1/callers/{number}")
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "number"


def test_erasing_needs_the_callers_erase_permission(api: ApiServer, tenant: Tenant) -> None:
    analyst = api.client(api.key(tenant, ("calls:read", "transcripts:read")))
    assert analyst.delete(f"/v1/callers/{new_e164()}").status_code == 403
    eraser = api.client(api.key(tenant, ("callers:erase",)))
    response = eraser.delete(f"/v1/callers/{new_e164()}")
    assert response.status_code == 200, response.text
    assert response.json()["erased"]["calls"] == 0


def test_a_caller_on_a_live_call_is_not_erased_until_it_ends(
    api: ApiServer, http: httpx.Client
) -> None:
    number = create_number(http, create_agent(http, demo_agent_body())["id"])["number"]
    caller = new_e164()
    answer = ring(api.twilio, number, from_=caller)
    assert answer.streams
    response = http.delete(f"/v1/callers/{caller}")
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "call_live"
    assert response.json()["error"]["field"] == "number"
    assert http.get(f"/v1/calls/{answer.call_sid}").status_code == 200


def test_a_caller_whose_post_call_run_is_executing_is_not_erased_until_it_finishes(
    api: ApiServer, tenant: Tenant, http: httpx.Client
) -> None:
    number = create_number(http, create_agent(http, demo_agent_body())["id"])["number"]
    caller = new_e164()
    call_id = http.get(f"/v1/calls/{ring(api.twilio, number, from_=caller).call_sid}").json()["id"]

    async def ended_with_a_run_in_hand(lease_s: float) -> None:
        async with api.app.state.database.writing() as session:
            call = await session.get(Call, call_id)
            assert call is not None
            call.status, call.ended_at = "completed", utcnow()
            session.add(
                WorkflowRun(
                    tenant_id=tenant.id,
                    name="post-call analysis",
                    definition={},
                    trigger_event="call.ended",
                    context={"call": {"from": caller}},
                    dedupe_key=new_id(),
                    call_id=call_id,
                    lease_owner="another-process",
                    lease_until=utcnow() + timedelta(seconds=lease_s),
                )
            )

    api.run(ended_with_a_run_in_hand(60))
    busy = http.delete(f"/v1/callers/{caller}")
    assert busy.status_code == 409, busy.text
    assert busy.json()["error"]["code"] == "call_processing"

    async def lease_lapsed() -> None:
        async with api.app.state.database.writing() as session:
            await session.execute(
                update(WorkflowRun)
                .where(WorkflowRun.call_id == call_id)
                .values(lease_until=utcnow() - timedelta(seconds=1))
            )

    api.run(lease_lapsed())
    done = http.delete(f"/v1/callers/{caller}")
    assert done.status_code == 200, done.text
    assert done.json()["erased"]["calls"] == 1 and done.json()["erased"]["workflow_runs"] == 1
