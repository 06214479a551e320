"""A key of one tenant can never read, list, change or detect another tenant's objects: every
``/v1`` operation is tried with a second tenant's key against the first tenant's ids."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from tests.api.campaign_helpers import campaign_body
from tests.api.carrier import PLATFORM_SID, PLATFORM_TOKEN, Carrier, incoming_form
from tests.api.helpers import agent_body, create_agent, create_number, new_e164

from aybiza.services.access import Access

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
    user: str
    invitation: str
    campaign: str
    blocked: str  # a number on the owner's do-not-call list
    caller: str  # the number that called the owner

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
            "user_id": self.user,
            "invitation_id": self.invitation,
            "campaign_id": self.campaign,
            # A delivery is reached through its webhook: the webhook's owner decides.
            "delivery_id": MISSING,
            # A person's own sessions and passkeys: no key reaches them (401, checked apart).
            "session_id": MISSING,
            "passkey_id": MISSING,
        }
        for name, value in values.items():
            path = path.replace(
                "{" + name + "}", MISSING if missing and name != "version" else value
            )
        # A new kind of object needs an owned example here, or the check would pass vacuously.
        assert "{" not in path, f"add an object of the first tenant for {path} to this test"
        return path


def _own(carrier: Carrier) -> tuple[httpx.Client, Owned]:
    api = carrier.api
    owner_tenant = api.tenant(max_concurrent_calls=100)
    owner = api.client(owner_tenant.key)
    agent = create_agent(owner)
    owner.put(f"/v1/agents/{agent['id']}", json=agent_body(greeting="v2"))
    number = create_number(owner, agent["id"])
    webhook = owner.post(
        "/v1/webhooks", json={"url": "https://example.com", "events": ["call.ended"]}
    )
    key = owner.post("/v1/keys", json={"scopes": ["calls:read"]}).json()
    incoming = incoming_form(number["number"], PLATFORM_SID)
    answered = carrier.signed_post("/twilio/voice", incoming, PLATFORM_TOKEN)
    assert answered.status_code == 200, answered.text
    call_sid = incoming["CallSid"]
    call = owner.get(f"/v1/calls/{call_sid}").json()
    suite = owner.put(f"/v1/agents/{agent['id']}/eval-suite", json=EVAL_SUITE)
    assert suite.status_code == 200, suite.text
    tool = owner.post("/v1/tools", json=TOOL)
    assert tool.status_code == 201, tool.text
    workflow = owner.post("/v1/workflows", json=WORKFLOW)
    assert workflow.status_code == 201, workflow.text
    people: Access = api.app.state.access
    member = api.run(
        people.people.add(owner_tenant.id, f"{owner_tenant.name}@example.com", "developer")
    )
    invitation = owner.post(
        "/v1/invitations", json={"email": f"new-{owner_tenant.name}@example.com", "role": "analyst"}
    )
    assert invitation.status_code == 201, invitation.text
    blocked = new_e164()
    listed = owner.post("/v1/do-not-call", json={"number": blocked})
    assert listed.status_code == 201, listed.text
    # Its only contact is on the do-not-call list: the campaign never dials.
    campaign = owner.post("/v1/campaigns", json=campaign_body(number, [{"number": blocked}]))
    assert campaign.status_code == 201, campaign.text
    owned = Owned(
        agent=agent["id"],
        number=number["id"],
        e164=number["number"],
        webhook=webhook.json()["id"],
        key=key["id"],
        call=call["id"],
        call_sid=call_sid,
        tool=tool.json()["id"],
        workflow=workflow.json()["id"],
        run=_first_run(owner, workflow.json()["id"]),
        user=member.user.id,
        invitation=invitation.json()["id"],
        campaign=campaign.json()["id"],
        blocked=blocked,
        caller=call["from"],
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
EVAL_SUITE = {
    "required": True,
    "suite": {"scenarios": [{"name": "hours", "caller": [{"say": "opening hours"}]}]},
}
_BODIES: dict[tuple[str, str], Callable[[Owned], Any]] = {
    ("PUT", "/v1/agents/{agent_id}"): lambda o: agent_body(greeting="stolen"),
    ("POST", "/v1/agents/{agent_id}/publish"): lambda o: {"version": "1.0.0"},
    ("PATCH", "/v1/phone-numbers/{number_id}"): lambda o: {"fallback_number": "+14155550100"},
    ("PATCH", "/v1/webhooks/{webhook_id}"): lambda o: {"enabled": False},
    ("POST", "/v1/calls/{call_ref}/transfer"): lambda o: {"to": "+14155550100"},
    ("POST", "/v1/webhooks/{webhook_id}/rotate-secret"): lambda o: {"grace_period_s": 0},
    ("PATCH", "/v1/tools/{tool_id}"): lambda o: {"description": "stolen"},
    ("PATCH", "/v1/workflows/{workflow_id}"): lambda o: {"enabled": False},
    ("PATCH", "/v1/users/{user_id}"): lambda o: {"role": "analyst"},
    ("PUT", "/v1/agents/{agent_id}/eval-suite"): lambda o: {**EVAL_SUITE, "required": False},
    ("POST", "/v1/agents/{agent_id}/versions/{version}/eval-runs"): lambda o: {
        "suite_digest": "sha256:" + "0" * 64,
        "scenarios": [{"name": "hours", "status": "passed", "call_sid": o.call_sid}],
    },
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
        owned.user,
        owned.invitation,
        owned.campaign,
    }
    checks = {
        ("GET", "/v1/users"): intruder.get("/v1/users"),
        ("GET", "/v1/invitations"): intruder.get("/v1/invitations"),
        ("GET", "/v1/agents"): intruder.get("/v1/agents"),
        ("GET", "/v1/phone-numbers"): intruder.get("/v1/phone-numbers"),
        ("GET", "/v1/webhooks"): intruder.get("/v1/webhooks"),
        ("GET", "/v1/keys"): intruder.get("/v1/keys"),
        ("GET", "/v1/calls"): intruder.get("/v1/calls"),
        ("GET", "/v1/tools"): intruder.get("/v1/tools"),
        ("GET", "/v1/workflows"): intruder.get("/v1/workflows"),
        ("GET", "/v1/campaigns"): intruder.get("/v1/campaigns"),
    }
    # Analytics count only the intruder's own calls (it has none).
    for path in ("/v1/analytics/calls", "/v1/analytics/latency", "/v1/analytics/costs"):
        figures = intruder.get(path)
        assert figures.status_code == 200, (path, figures.text)
        assert owned.agent not in figures.text and owned.number not in figures.text, path
    calls = intruder.get("/v1/analytics/calls", params={"group_by": "agent"}).json()
    assert calls["totals"]["calls"] == 0, calls
    listed = intruder.get("/v1/do-not-call")
    assert listed.status_code == 200
    assert owned.blocked not in {row["number"] for row in listed.json()["data"]}
    for params in ({"agent_id": owned.agent}, {"number": owned.e164}, {"status": "ringing"}):
        response = intruder.get("/v1/calls", params=params)
        assert response.json()["data"] == [], params
    for (_, path), response in checks.items():
        assert response.status_code == 200, path
        assert not {row["id"] for row in response.json()["data"]} & owner_ids, path
    own_tenant = intruder.get("/v1/tenant").json()["id"]
    events = intruder.get("/v1/audit-events", params={"limit": 100}).json()["data"]
    assert events and {event["tenant_id"] for event in events} == {own_tenant}
    assert not {event["target"]["id"] for event in events} & owner_ids
    exported = intruder.get("/v1/audit-events/export").text
    assert not any(owner_id in exported for owner_id in owner_ids)
    return set(checks) | {
        ("GET", "/v1/do-not-call"),
        ("GET", "/v1/analytics/calls"),
        ("GET", "/v1/analytics/latency"),
        ("GET", "/v1/analytics/costs"),
        ("GET", "/v1/audit-events"),
        ("GET", "/v1/audit-events/export"),
    }


def _own_person_routes(
    intruder: httpx.Client, operations: set[tuple[str, str]]
) -> set[tuple[str, str]]:
    """A signed-in person's own routes (``/v1/auth``): a key is nobody's person (401)."""
    mine = {(method, path) for method, path in operations if path.startswith("/v1/auth/")}
    for method, path in mine:
        filled = path.replace("{session_id}", MISSING).replace("{passkey_id}", MISSING)
        response = intruder.request(method, filled, json={})
        assert response.status_code in (401, 404, 422), (method, path, response.text)
    return mine


def _tenant_security(intruder: httpx.Client, owner: httpx.Client) -> set[tuple[str, str]]:
    """The tenant's security settings are always the caller's own tenant's."""
    assert intruder.put("/v1/tenant/security", json={"mfa_required": False}).status_code == 200
    assert owner.get("/v1/tenant/security").json() == {"mfa_required": False}
    assert intruder.get("/v1/tenant/security").status_code == 200
    return {("GET", "/v1/tenant/security"), ("PUT", "/v1/tenant/security")}


def _tenant_data_policy(
    intruder: httpx.Client, owner: httpx.Client, owned: Owned
) -> set[tuple[str, str]]:
    """Retention, compliance mode and export are always the caller's own tenant's."""
    kept, mode = owner.get("/v1/tenant/retention").json(), owner.get("/v1/tenant/compliance").json()
    assert intruder.put("/v1/tenant/retention", json={"transcripts_days": 1}).status_code == 200
    assert intruder.put("/v1/tenant/compliance", json={"compliance_mode": "pci"}).status_code == 200
    assert intruder.get("/v1/tenant/retention").json()["transcripts_days"] == 1
    assert intruder.get("/v1/tenant/compliance").json() == {"compliance_mode": "pci"}
    assert owner.get("/v1/tenant/retention").json() == kept
    assert owner.get("/v1/tenant/compliance").json() == mode
    exported = intruder.get("/v1/tenant/export")
    assert exported.status_code == 200
    assert not any(value in exported.text for value in (owned.agent, owned.call, owned.campaign))
    return {
        ("GET", "/v1/tenant/retention"),
        ("PUT", "/v1/tenant/retention"),
        ("GET", "/v1/tenant/compliance"),
        ("PUT", "/v1/tenant/compliance"),
        ("GET", "/v1/tenant/export"),
    }


def _callers(intruder: httpx.Client, owner: httpx.Client, owned: Owned) -> set[tuple[str, str]]:
    """Erasing a caller erases only the intruder's own records of that number: none here (the
    owner's call is compared before and after in the test)."""
    erased = intruder.delete(f"/v1/callers/{owned.caller}")
    assert erased.status_code == 200, erased.text
    assert not any(erased.json()["erased"].values()), erased.json()
    # The intruder listed the owner's number on its own list (_creates): taking it off takes
    # the intruder's entry only (then there is none: 404), and the owner's entry stays.
    assert intruder.delete(f"/v1/do-not-call/{owned.blocked}").status_code == 204
    assert intruder.delete(f"/v1/do-not-call/{owned.blocked}").status_code == 404
    assert owned.blocked in {row["number"] for row in owner.get("/v1/do-not-call").json()["data"]}
    return {("DELETE", "/v1/callers/{number}"), ("DELETE", "/v1/do-not-call/{number}")}


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
    invited = intruder.post("/v1/invitations", json={"email": "x@example.com", "role": "analyst"})
    assert invited.status_code == 201
    # Names are per tenant: the owner's tool name is free for another tenant.
    assert intruder.post("/v1/tools", json=TOOL).status_code == 201
    assert intruder.post("/v1/workflows", json=WORKFLOW | {"name": "x"}).status_code == 201
    # A campaign from the owner's number is refused as one from a number that does not exist.
    body = campaign_body({"id": owned.number}, [{"number": new_e164()}])
    their_campaign = intruder.post("/v1/campaigns", json=body)
    no_campaign = intruder.post("/v1/campaigns", json=body | {"from_number_id": MISSING})
    assert (
        their_campaign.status_code == 422
        and their_campaign.json()["error"]["field"] == "from_number_id"
    )
    assert their_campaign.json()["error"] | {"message": ""} == no_campaign.json()["error"] | {
        "message": ""
    }
    # Do-not-call lists are per tenant: the owner's number can go on the intruder's own.
    assert intruder.post("/v1/do-not-call", json={"number": owned.blocked}).status_code == 201
    return {
        ("POST", "/v1/campaigns"),
        ("POST", "/v1/do-not-call"),
        ("POST", "/v1/tools"),
        ("POST", "/v1/workflows"),
        ("POST", "/v1/phone-numbers"),
        ("POST", "/v1/calls"),
        ("POST", "/v1/agents"),
        ("POST", "/v1/webhooks"),
        ("POST", "/v1/keys"),
        ("POST", "/v1/invitations"),
    }


def test_every_operation_on_another_tenant_s_object_is_not_found(carrier: Carrier) -> None:
    api = carrier.api  # Twilio configured: the owner's number can run a campaign
    owner, owned = _own(carrier)
    before = {
        path: owner.get(owned.fill(path)).json()
        for path in (
            "/v1/agents/{agent_id}",
            "/v1/agents/{agent_id}/eval-suite",
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
        | _own_person_routes(intruder, operations)
        | _tenant_security(intruder, owner)
        | _tenant_data_policy(intruder, owner, owned)
        | _callers(intruder, owner, owned)
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
