"""A key of one tenant can never read, list, change or detect another tenant's objects: every
``/v1`` operation is tried with a second tenant's key against the first tenant's ids."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from tests.api.conftest import ApiServer
from tests.api.helpers import agent_body, create_agent, create_number, new_e164, ring

MISSING = "0123456789abcdef0123456789abcdef"
TOOL: dict[str, Any] = {
    "name": "lookup_order",
    "description": "Look up an order.",
    "parameters": {"type": "object", "properties": {"order": {"type": "string"}}},
    "options": {"url": "https://orders.example.com/lookup"},
}
# A schedule, so that a run of the owner's exists without a call having to end.
WORKFLOW: dict[str, Any] = {
    "name": "nightly report",
    "trigger": {"event": "schedule", "every_s": 1},
    "steps": [{"id": "wait", "type": "delay", "seconds": 1}],
}


@dataclass(frozen=True)
class Owned:
    """Objects of the first tenant."""

    agent: str
    number: str
    e164: str
    webhook: str
    key: str
    call: str
    call_sid: str
    tool: str
    workflow: str
    run: str

    def fill(self, path: str, *, missing: bool = False) -> str:
        """``path`` with these ids (or ids of nothing at all) in place of its parameters."""
        values = {
            "agent_id": self.agent,
            "version": "1.0.0",
            "number_id": self.number,
            "webhook_id": self.webhook,
            "key_id": self.key,
            "call_ref": self.call,
            "tool_id": self.tool,
            "workflow_id": self.workflow,
            "run_id": self.run,
        }
        for name, value in values.items():
            path = path.replace(
                "{" + name + "}", MISSING if missing and name != "version" else value
            )
        # A new kind of object needs an owned example here, or the check would pass vacuously.
        assert "{" not in path, f"add an object of the first tenant for {path} to this test"
        return path


def _own(api: ApiServer) -> tuple[httpx.Client, Owned]:
    owner_tenant = api.tenant(max_concurrent_calls=100)
    owner = api.client(owner_tenant.key)
    agent = create_agent(owner)
    owner.put(f"/v1/agents/{agent['id']}", json=agent_body(greeting="v2"))
    number = create_number(owner, agent["id"])
    webhook = owner.post(
        "/v1/webhooks", json={"url": "https://example.com", "events": ["call.ended"]}
    )
    key = owner.post("/v1/keys", json={"scopes": ["calls:read"]}).json()
    answer = ring(api.twilio, number["number"])
    call = owner.get(f"/v1/calls/{answer.call_sid}").json()
    tool = owner.post("/v1/tools", json=TOOL)
    assert tool.status_code == 201, tool.text
    workflow = owner.post("/v1/workflows", json=WORKFLOW)
    assert workflow.status_code == 201, workflow.text
    owned = Owned(
        agent=agent["id"],
        number=number["id"],
        e164=number["number"],
        webhook=webhook.json()["id"],
        key=key["id"],
        call=call["id"],
        call_sid=answer.call_sid,
        tool=tool.json()["id"],
        workflow=workflow.json()["id"],
        run=_first_run(owner, workflow.json()["id"]),
    )
    return owner, owned


def _first_run(owner: httpx.Client, workflow_id: str) -> str:
    """The scheduled workflow's first run (the scheduler starts it within seconds)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        runs = owner.get(f"/v1/workflows/{workflow_id}/runs").json()["data"]
        if runs:
            return str(runs[0]["id"])
        time.sleep(0.2)
    raise AssertionError("the scheduled workflow never ran")


# Bodies that would be valid for the owner, so only ownership can make them fail.
_BODIES: dict[tuple[str, str], Callable[[Owned], Any]] = {
    ("PUT", "/v1/agents/{agent_id}"): lambda o: agent_body(greeting="stolen"),
    ("POST", "/v1/agents/{agent_id}/publish"): lambda o: {"version": "1.0.0"},
    ("PATCH", "/v1/phone-numbers/{number_id}"): lambda o: {"fallback_number": "+14155550100"},
    ("PATCH", "/v1/webhooks/{webhook_id}"): lambda o: {"enabled": False},
    ("POST", "/v1/webhooks/{webhook_id}/rotate-secret"): lambda o: {"grace_period_s": 0},
    ("PATCH", "/v1/tools/{tool_id}"): lambda o: {"description": "stolen"},
    ("PATCH", "/v1/workflows/{workflow_id}"): lambda o: {"enabled": False},
}


def _lists(intruder: httpx.Client, owned: Owned) -> set[tuple[str, str]]:
    """Every list (and filter) the intruder can run shows none of the owner's rows."""
    owner_ids = {
        owned.agent,
        owned.number,
        owned.webhook,
        owned.key,
        owned.call,
        owned.tool,
        owned.workflow,
    }
    checks = {
        ("GET", "/v1/agents"): intruder.get("/v1/agents"),
        ("GET", "/v1/phone-numbers"): intruder.get("/v1/phone-numbers"),
        ("GET", "/v1/webhooks"): intruder.get("/v1/webhooks"),
        ("GET", "/v1/keys"): intruder.get("/v1/keys"),
        ("GET", "/v1/calls"): intruder.get("/v1/calls"),
        ("GET", "/v1/tools"): intruder.get("/v1/tools"),
        ("GET", "/v1/workflows"): intruder.get("/v1/workflows"),
    }
    for params in ({"agent_id": owned.agent}, {"number": owned.e164}, {"status": "ringing"}):
        response = intruder.get("/v1/calls", params=params)
        assert response.json()["data"] == [], params
    for (_, path), response in checks.items():
        assert response.status_code == 200, path
        assert not {row["id"] for row in response.json()["data"]} & owner_ids, path
    return set(checks)


def _creates(intruder: httpx.Client, owned: Owned) -> set[tuple[str, str]]:
    """Creating things never reaches into the owner's objects."""
    number = intruder.post(
        "/v1/phone-numbers",
        json={"number": new_e164(), "type": "twilio", "agent_id": owned.agent},
    )
    assert number.status_code == 422 and number.json()["error"]["field"] == "agent_id"
    missing = intruder.post(
        "/v1/phone-numbers", json={"number": new_e164(), "type": "twilio", "agent_id": MISSING}
    )
    assert missing.json()["error"] == number.json()["error"] | {
        "message": missing.json()["error"]["message"]
    }
    for field, theirs, nothing in (
        ("from_number_id", owned.number, MISSING),
        ("from", owned.e164, new_e164()),
    ):
        call = intruder.post("/v1/calls", json={"to": new_e164(), field: theirs})
        unknown = intruder.post("/v1/calls", json={"to": new_e164(), field: nothing})
        assert call.status_code == 422 and call.json()["error"]["field"] == field, call.text
        assert call.json()["error"] | {"message": ""} == unknown.json()["error"] | {"message": ""}
    assert intruder.post("/v1/agents", json=agent_body()).status_code == 201
    assert (
        intruder.post(
            "/v1/webhooks", json={"url": "https://x.example", "events": ["call.ended"]}
        ).status_code
        == 201
    )
    assert intruder.post("/v1/keys", json={"scopes": ["agents:read"]}).status_code == 201
    # Names are per tenant: the owner's tool name is free for another tenant.
    assert intruder.post("/v1/tools", json=TOOL).status_code == 201
    assert intruder.post("/v1/workflows", json=WORKFLOW | {"name": "x"}).status_code == 201
    return {
        ("POST", "/v1/tools"),
        ("POST", "/v1/workflows"),
        ("POST", "/v1/phone-numbers"),
        ("POST", "/v1/calls"),
        ("POST", "/v1/agents"),
        ("POST", "/v1/webhooks"),
        ("POST", "/v1/keys"),
    }


def test_every_operation_on_another_tenant_s_object_is_not_found(api: ApiServer) -> None:
    owner, owned = _own(api)
    before = {
        path: owner.get(owned.fill(path)).json()
        for path in (
            "/v1/agents/{agent_id}",
            "/v1/phone-numbers/{number_id}",
            "/v1/webhooks/{webhook_id}",
            "/v1/calls/{call_ref}",
        )
    }
    intruder = api.client(api.tenant().key)
    operations = {
        (method.upper(), path)
        for path, item in api.client(None).get("/openapi.json").json()["paths"].items()
        if path.startswith("/v1/")
        for method in item
    }
    covered = (
        _lists(intruder, owned)
        | _creates(intruder, owned)
        | {("GET", "/v1/tenant"), ("GET", "/v1/tools/builtins")}
    )
    assert intruder.get("/v1/tenant").json()["id"] != owner.get("/v1/tenant").json()["id"]
    for method, path in sorted(operations - covered):
        make_body = _BODIES.get((method, path))
        body = make_body(owned) if make_body is not None else None
        theirs = intruder.request(method, owned.fill(path), json=body)
        nothing = intruder.request(method, owned.fill(path, missing=True), json=body)
        assert theirs.status_code == 404, (method, path, theirs.text)
        assert nothing.status_code == 404, (method, path, nothing.text)
        assert theirs.json()["error"]["code"] == nothing.json()["error"]["code"], (method, path)
        assert theirs.json()["error"]["field"] == nothing.json()["error"]["field"], (method, path)
        covered.add((method, path))
    by_sid = intruder.get(f"/v1/calls/{owned.call_sid}")
    assert by_sid.status_code == 404
    assert covered == operations
    after = {path: owner.get(owned.fill(path)).json() for path in before}
    after["/v1/calls/{call_ref}"]["cost"] = before["/v1/calls/{call_ref}"]["cost"]
    after["/v1/calls/{call_ref}"]["duration_s"] = before["/v1/calls/{call_ref}"]["duration_s"]
    assert after == before
    assert owner.get("/v1/keys").json()["data"][0]["revoked_at"] is None
