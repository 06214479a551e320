"""The tenant's data policy through the API: retention days and compliance mode (the owner's,
validated, audited), what ``hipaa`` refuses (agents and calls not on Bedrock), and the tenant
data export as JSON lines."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from sqlalchemy import select
from tests.api.conftest import ApiServer, Tenant
from tests.api.helpers import agent_body, create_agent, create_number, demo_agent_body, ring

from aybiza.simulator.twilio_client import SimulatedCall
from aybiza.store.models import Base


def test_the_owner_sets_retention_and_the_change_is_audited(
    api: ApiServer, tenant: Tenant, http: httpx.Client
) -> None:
    assert http.get("/v1/tenant/retention").json() == {
        "transcripts_days": None,
        "events_days": None,
        "recordings_days": None,
    }
    response = http.put("/v1/tenant/retention", json={"transcripts_days": 30, "events_days": 90})
    assert response.status_code == 200, response.text
    assert http.get("/v1/tenant/retention").json() == {
        "transcripts_days": 30,
        "events_days": 90,
        "recordings_days": None,
    }
    events = http.get("/v1/audit-events", params={"action": "tenant.updated"}).json()["data"]
    assert events[0]["after"] == {"retention_transcripts_days": 30, "retention_events_days": 90}
    assert http.put("/v1/tenant/retention", json={}).json() == {
        "transcripts_days": None,
        "events_days": None,
        "recordings_days": None,
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"transcripts_days": 0}, "transcripts_days"),
        ({"events_days": 3651}, "events_days"),
        ({"events_days": "a week"}, "events_days"),
        ({"recordings_days": 0}, "recordings_days"),
        ({"audio_days": 3}, "audio_days"),
    ],
)
def test_a_bad_retention_is_refused_naming_the_field(
    http: httpx.Client, body: dict[str, object], field: str
) -> None:
    response = http.put("/v1/tenant/retention", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


def test_only_the_owner_changes_the_data_policy_or_exports(api: ApiServer, tenant: Tenant) -> None:
    admin_like = api.client(api.key(tenant, ("agents:write", "people:read", "callers:erase")))
    assert admin_like.get("/v1/tenant/retention").status_code == 200
    assert admin_like.get("/v1/tenant/compliance").status_code == 200
    assert admin_like.put("/v1/tenant/retention", json={"events_days": 1}).status_code == 403
    changed = admin_like.put("/v1/tenant/compliance", json={"compliance_mode": "pci"})
    assert changed.status_code == 403
    assert admin_like.get("/v1/tenant/export").status_code == 403


def test_an_unknown_compliance_mode_is_refused_naming_the_field(http: httpx.Client) -> None:
    response = http.put("/v1/tenant/compliance", json={"compliance_mode": "sox"})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "compliance_mode"


async def test_hipaa_refuses_agents_and_calls_that_are_not_on_bedrock(
    api: ApiServer, tenant: Tenant, http: httpx.Client
) -> None:
    agent = create_agent(http, demo_agent_body())
    number = create_number(http, agent["id"])["number"]
    async with api.aclient(tenant.key) as owner:
        response = await owner.put("/v1/tenant/compliance", json={"compliance_mode": "hipaa"})
        assert response.status_code == 200, response.text
        assert (await owner.get("/v1/tenant/compliance")).json() == {"compliance_mode": "hipaa"}

        refused = await owner.post("/v1/agents", json=agent_body(engines={"llm": "auto"}))
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["field"] == "engines.llm" and error["code"] == "compliance_mode"
        publish = await owner.post(
            f"/v1/agents/{agent['id']}/publish", json={"version": agent["version"]}
        )
        assert publish.status_code == 422, publish.text
        assert publish.json()["error"]["field"] == "engines.llm"

        async with asyncio.timeout(30):
            call = await SimulatedCall.dial(api.base_url, to=number)
            async with call:
                await call.wait_until_ended(timeout=10)
        assert call.close_reason is not None and "hipaa" in call.close_reason
        assert "engines.llm" in call.close_reason
        await owner.put("/v1/tenant/compliance", json={"compliance_mode": "none"})


def test_the_export_holds_the_tenants_data_and_no_secrets(
    api: ApiServer, tenant: Tenant, http: httpx.Client
) -> None:
    agent = create_agent(http, demo_agent_body())
    number = create_number(http, agent["id"])["number"]
    # Nothing is delivered: the call below only rings, and the hook wants ended calls.
    hook_url = "http://127.0.0.1:9/hook"
    hook = http.post("/v1/webhooks", json={"url": hook_url, "events": ["call.ended"]})
    assert hook.status_code == 201, hook.text
    answer = ring(api.twilio, number)

    response = http.get("/v1/tenant/export")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    header = lines[0]
    assert header["type"] == "export" and header["data"]["tenant_id"] == tenant.id
    by_type: dict[str, list[dict[str, object]]] = {}
    for line in lines[1:]:
        by_type.setdefault(line["type"], []).append(line["data"])
    assert [a["id"] for a in by_type["agent"]] == [agent["id"]]
    assert [n["e164"] for n in by_type["phone_number"]] == [number]
    assert [c["call_sid"] for c in by_type["call"]] == [answer.call_sid]
    assert by_type["webhook"][0]["url"] == hook_url
    assert "agent.created" in {event["action"] for event in by_type["audit_event"]}
    assert hook.json()["secret"] not in response.text
    assert not [line for line in lines if any(k.endswith("_sealed") for k in line["data"])]
    exported = http.get("/v1/audit-events", params={"action": "tenant.exported"}).json()
    assert len(exported["data"]) == 1


async def _stored_text(api: ApiServer) -> str:
    rows: list[str] = []
    async with api.app.state.database.session() as session:
        for table in Base.metadata.sorted_tables:
            rows += [repr(tuple(row)) for row in (await session.execute(select(table))).all()]
    return "\n".join(rows)


async def test_under_pci_a_card_keyed_in_reaches_nothing_but_stars(api: ApiServer) -> None:
    tenant = api.tenant()
    setup = api.client(tenant.key)
    number = create_number(setup, create_agent(setup, demo_agent_body())["id"])["number"]
    card = "4111111111111111"
    async with api.aclient(tenant.key) as owner:
        response = await owner.put("/v1/tenant/compliance", json={"compliance_mode": "pci"})
        assert response.status_code == 200, response.text
        async with asyncio.timeout(60):
            call = await SimulatedCall.dial(api.base_url, to=number)
            async with call:
                await call.wait_for_agent_audio(timeout=30)
                await call.wait_until_agent_done(timeout=30)
                for digit in card + "#":
                    await call.send_dtmf(digit)
                for _ in range(400):
                    record = (await owner.get(f"/v1/calls/{call.call_sid}")).json()
                    if [line for line in record["transcript"] if line["speaker"] == "caller"]:
                        break
                    await asyncio.sleep(0.05)
        for _ in range(400):
            record = (await owner.get(f"/v1/calls/{call.call_sid}")).json()
            if record.get("ended_reason"):
                break
            await asyncio.sleep(0.05)
    said = [line["text"] for line in record["transcript"] if line["speaker"] == "caller"]
    assert said == ["DTMF " + "*" * 16]
    stored = await api.arun(_stored_text(api))
    assert "DTMF ****************" in stored
    assert card not in stored and "4111 1111" not in stored
