"""``/v1/workflows``: per-tenant CRUD, header values write-only, invalid definitions refused
naming the field, and runs with their steps readable by their tenant only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.automation.api_app import Api, automation_api
from tests.automation.helpers import make_agent, make_call
from tests.automation.receiver import Receiver
from tests.automation.workflow_helpers import FAST, call_ended, finished

from aybiza.security.secretbox import HmacSecretBox
from aybiza.store.database import Database

WORKFLOW: dict[str, Any] = {
    "name": "crm sync",
    "trigger": {"event": "call.ended"},
    "steps": [
        {
            "id": "push",
            "type": "http",
            "url": "https://crm.example.com/calls",
            "headers": {"Authorization": "Bearer crm-secret"},
            "body": {"call": "{{call.id}}"},
        },
        {
            "id": "check",
            "type": "condition",
            "if": {"path": "steps.push.data.vip", "op": "truthy"},
            "then": "alert",
            "else": "end",
        },
        {"id": "alert", "type": "webhook", "url": "https://ops.example.com/hooks"},
    ],
}


@pytest.fixture
async def api(database: Database, box: HmacSecretBox) -> AsyncIterator[Api]:
    async with automation_api(database, box, FAST) as app:
        yield app


async def test_a_workflow_is_created_read_changed_and_deleted(api: Api) -> None:
    tenant = await api.tenant()
    async with api.client(tenant.key) as client:
        created = await client.post("/v1/workflows", json=WORKFLOW)
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["secret"].startswith("whsec_")
        assert body["steps"][0]["headers"] == {"Authorization": "[redacted]"}
        assert "crm-secret" not in created.text
        assert body["steps"][1]["if"] == {
            "path": "steps.push.data.vip",
            "op": "truthy",
            "value": None,
        }
        workflow_id = body["id"]
        steps = [{k: v for k, v in WORKFLOW["steps"][0].items() if k != "headers"}]
        changed = await client.patch(
            f"/v1/workflows/{workflow_id}", json={"enabled": False, "steps": steps}
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["enabled"] is False
        assert changed.json()["steps"][0]["headers"] == {"Authorization": "[redacted]"}
        listed = await client.get("/v1/workflows")
        assert [w["id"] for w in listed.json()["data"]] == [workflow_id]
        assert (await client.delete(f"/v1/workflows/{workflow_id}")).status_code == 204
        assert (await client.get(f"/v1/workflows/{workflow_id}")).status_code == 404


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            {
                "steps": [
                    {"id": "a", "type": "delay", "seconds": 1},
                    {"id": "b", "type": "condition", "if": {"path": "x"}, "then": "a"},
                ]
            },
            "steps.1.then",
            "later step",
        ),
        (
            {"steps": [{"id": "a", "type": "condition", "if": {"path": "x"}, "else": "nope"}]},
            "steps.0.else",
            "names no step",
        ),
        (
            {"steps": [{"id": "a", "type": "delay", "seconds": 1}] * 2},
            "steps.1.id",
            "repeats",
        ),
        ({"trigger": {"event": "schedule"}}, "trigger.every_s", "needs every_s"),
        ({"trigger": {"event": "call.ended", "tool": "x"}}, "trigger.tool", "tool.completed"),
        ({"steps": [{"id": "a", "type": "teleport"}]}, "steps.0", ""),
    ],
)
async def test_invalid_workflows_are_refused_naming_the_field(
    api: Api, change: dict[str, Any], field: str, message: str
) -> None:
    tenant = await api.tenant()
    async with api.client(tenant.key) as client:
        response = await client.post("/v1/workflows", json={**WORKFLOW, **change})
    assert response.status_code == 422, response.text
    fields = {problem["field"]: problem["message"] for problem in response.json()["errors"]}
    assert any(name.startswith(field) for name in fields), fields
    assert any(message in text for text in fields.values())


async def test_runs_and_their_steps_are_visible_to_their_tenant_only(
    api: Api, receiver: Receiver
) -> None:
    owner, other = await api.tenant(), await api.tenant()
    definition = {
        "name": "ping",
        "trigger": {"event": "call.ended"},
        "steps": [{"id": "ping", "type": "http", "url": receiver.url("/ping"), "sign": False}],
    }
    engine = api.automation
    async with api.client(owner.key) as mine, api.client(other.key) as theirs:
        workflow_id = (await mine.post("/v1/workflows", json=definition)).json()["id"]
        version = await make_agent(engine.database, owner.id, {"name": "A", "system_prompt": "x"})
        [run_id] = await call_ended(engine, await make_call(engine.database, owner.id, version))
        await engine.start()
        try:
            await finished(engine.database, run_id)
        finally:
            await engine.runner.stop()
        runs = (await mine.get(f"/v1/workflows/{workflow_id}/runs")).json()
        assert [(r["id"], r["status"]) for r in runs["data"]] == [(run_id, "completed")]
        detail = (await mine.get(f"/v1/workflows/runs/{run_id}")).json()
        assert [(s["step_id"], s["status"], s["attempts"]) for s in detail["steps"]] == [
            ("ping", "completed", 1)
        ]
        assert detail["steps"][0]["idempotency_key"] == f"{run_id}:ping"
        assert (await theirs.get(f"/v1/workflows/runs/{run_id}")).status_code == 404
        assert (await theirs.get(f"/v1/workflows/{workflow_id}/runs")).status_code == 404
