"""An agent's eval suite and the publish gate: with ``required``, a version goes live only once
the newest recorded run of the current suite against it passed; a run is evidence the server
checks (its suite, a result per scenario, finished calls of that agent version)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import httpx
from tests.api.conftest import ApiServer, Tenant
from tests.api.helpers import create_agent, create_number, demo_agent_body, ring

from aybiza.store.models import Call, utcnow

SUITE: dict[str, Any] = {
    "name": "ACME demo",
    "scenarios": [
        {
            "name": "opening hours",
            "caller": [{"say": "what are your opening hours"}],
            "expect": {"said": "We are open Monday to Friday", "ended_reason": "caller-hangup"},
        },
        {
            "name": "goodbye",
            "caller": [{"say": "goodbye"}],
            "expect": {"ended_reason": "agent-ended"},
        },
    ],
}


def finished_call(api: ApiServer, tenant: Tenant, agent_id: str, version: str) -> str:
    """A finished call of ``tenant`` that ran ``version`` of the agent; its CallSid."""
    call_sid = "CA" + secrets.token_hex(16)

    async def write() -> None:
        ended = utcnow()
        async with api.app.state.database.writing() as session:
            session.add(
                Call(
                    tenant_id=tenant.id,
                    call_sid=call_sid,
                    agent_id=agent_id,
                    agent_version=version,
                    status="completed",
                    ended_reason="caller-hangup",
                    created_at=ended - timedelta(seconds=20),
                    started_at=ended - timedelta(seconds=19),
                    ended_at=ended,
                )
            )

    api.run(write())
    return call_sid


def run_body(digest: str, calls: list[str], statuses: tuple[str, str]) -> dict[str, Any]:
    return {
        "suite_digest": digest,
        "engines": {"stt": "pocketsphinx", "tts": "espeak", "llm": "flow"},
        "scenarios": [
            {
                "name": scenario["name"],
                "status": status,
                "call_sid": call_sid,
                "failures": [] if status == "passed" else ["said: no line matched"],
            }
            for scenario, call_sid, status in zip(SUITE["scenarios"], calls, statuses, strict=True)
        ],
    }


def test_a_required_suite_gates_publishing_until_a_passing_run_is_recorded(
    api: ApiServer, tenant: Tenant, http: httpx.Client
) -> None:
    agent = create_agent(http, demo_agent_body())
    agent_id = agent["id"]
    stored = http.put(f"/v1/agents/{agent_id}/eval-suite", json={"required": True, "suite": SUITE})
    assert stored.status_code == 200, stored.text
    digest = stored.json()["digest"]
    assert (
        digest.startswith("sha256:")
        and http.get(f"/v1/agents/{agent_id}/eval-suite").json()["suite"] == SUITE
    )

    changed = http.put(f"/v1/agents/{agent_id}", json=demo_agent_body(version="1.1.0"))
    assert changed.status_code == 200, changed.text
    # Publishing a new version at once is refused, and nothing is stored.
    at_once = http.put(
        f"/v1/agents/{agent_id}?publish=true", json=demo_agent_body(version="1.2.0", greeting="Hi")
    )
    assert at_once.status_code == 409, at_once.text
    assert at_once.json()["error"]["code"] == "eval_required"
    assert http.get(f"/v1/agents/{agent_id}").json()["version"] == "1.1.0"

    refused = http.post(f"/v1/agents/{agent_id}/publish", json={"version": "1.1.0"})
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "eval_required" and error["field"] == "version"
    assert "no run of that suite is recorded for version 1.1.0" in error["message"]
    assert f"aybiza eval --url URL --agent {agent_id} --version 1.1.0 --record" in error["message"]

    # A failing run is recorded, and the gate names what failed.
    calls = [finished_call(api, tenant, agent_id, "1.1.0") for _ in range(2)]
    failing = http.post(
        f"/v1/agents/{agent_id}/versions/1.1.0/eval-runs",
        json=run_body(digest, calls, ("passed", "failed")),
    )
    assert failing.status_code == 201, failing.text
    assert failing.json()["passed"] is False and failing.json()["scenarios_failed"] == 1
    refused = http.post(f"/v1/agents/{agent_id}/publish", json={"version": "1.1.0"})
    assert refused.status_code == 409
    assert (
        "did not pass: 1 failed and 0 skipped of 2 scenarios (goodbye)"
        in (refused.json()["error"]["message"])
    )

    calls = [finished_call(api, tenant, agent_id, "1.1.0") for _ in range(2)]
    passing = http.post(
        f"/v1/agents/{agent_id}/versions/1.1.0/eval-runs",
        json=run_body(digest, calls, ("passed", "passed")),
    )
    assert passing.status_code == 201, passing.text
    assert passing.json()["passed"] is True
    published = http.post(f"/v1/agents/{agent_id}/publish", json={"version": "1.1.0"})
    assert published.status_code == 200, published.text
    assert published.json()["published_version"] == "1.1.0"
    runs = http.get(f"/v1/agents/{agent_id}/versions/1.1.0/eval-runs").json()["data"]
    assert [run["passed"] for run in runs] == [True, False]

    # A changed suite makes earlier runs stop counting, even for a rollback.
    changed_suite = {**SUITE, "threshold": 0.8}
    assert (
        http.put(
            f"/v1/agents/{agent_id}/eval-suite", json={"required": True, "suite": changed_suite}
        ).json()["digest"]
        != digest
    )
    rollback = http.post(f"/v1/agents/{agent_id}/publish", json={"version": "1.0.0"})
    assert rollback.status_code == 409
    stale = http.post(
        f"/v1/agents/{agent_id}/versions/1.1.0/eval-runs",
        json=run_body(digest, calls, ("passed", "passed")),
    )
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "suite_changed"
    # Without ``required`` the suite is kept but no longer gates.
    http.put(f"/v1/agents/{agent_id}/eval-suite", json={"required": False, "suite": changed_suite})
    assert http.post(f"/v1/agents/{agent_id}/publish", json={"version": "1.0.0"}).status_code == 200


def test_a_run_is_checked_against_the_suite_and_the_calls_it_names(
    api: ApiServer, tenant: Tenant, http: httpx.Client
) -> None:
    agent = create_agent(http, demo_agent_body())
    other = create_agent(http, demo_agent_body(name="Other"))
    agent_id = agent["id"]
    digest = http.put(
        f"/v1/agents/{agent_id}/eval-suite", json={"required": True, "suite": SUITE}
    ).json()["digest"]
    # A call still ringing (placed through the Twilio webhook on a number pinned to 1.0.0).
    ringing = ring(api.twilio, create_number(http, agent_id, agent_version="1.0.0")["number"])
    body = run_body(
        digest,
        [ringing.call_sid, finished_call(api, tenant, other["id"], "1.0.0")],
        ("passed",) * 2,
    )
    body["scenarios"].append({"name": "not in the suite", "status": "passed"})
    response = http.post(f"/v1/agents/{agent_id}/versions/1.0.0/eval-runs", json=body)
    assert response.status_code == 422, response.text
    problems = {p["field"]: p["message"] for p in response.json()["errors"]}
    assert problems == {
        "scenarios.0.call_sid": "the call has not ended",
        "scenarios.1.call_sid": f"the call ran agent {other['id']}, not {agent_id}",
        "scenarios.2.name": "the suite has no scenario of this name",
        "scenarios.2.call_sid": "a passed scenario names the call it placed",
    }
    wrong_version = finished_call(api, tenant, agent_id, "0.9.0")
    missing = run_body(digest, [wrong_version, wrong_version], ("passed", "passed"))
    missing["scenarios"] = missing["scenarios"][:1]
    response = http.post(f"/v1/agents/{agent_id}/versions/1.0.0/eval-runs", json=missing)
    problems = {p["field"]: p["message"] for p in response.json()["errors"]}
    assert problems == {
        "scenarios.0.call_sid": "the call ran version 0.9.0, not 1.0.0",
        "scenarios": "no result for scenario(s) 'goodbye'",
    }
    assert (
        http.post(f"/v1/agents/{agent_id}/versions/9.9.9/eval-runs", json=missing).status_code
        == 404
    )


def test_a_bad_suite_is_refused_naming_each_field(http: httpx.Client) -> None:
    agent = create_agent(http, demo_agent_body())
    suite = {
        "agent": "demo",
        "judge": "vibes",
        "scenarios": [
            {"name": "a", "caller": [{"say": "hi", "dtmf": "1"}]},
            {"name": "b", "persona": "x", "caller": [{"dtmf": "1"}]},
            {"name": "c", "caller": [{"say": "hi"}], "expect": {"turns": {"min": 3, "max": 1}}},
            {"name": "d", "caller": [{"dtmf": "12a"}]},
        ],
    }
    response = http.put(f"/v1/agents/{agent['id']}/eval-suite", json={"suite": suite})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "suite.agent"
    del suite["agent"]
    response = http.put(f"/v1/agents/{agent['id']}/eval-suite", json={"suite": suite})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_eval_suite"
    fields = {p["field"] for p in response.json()["errors"]}
    assert fields == {
        "suite.judge",
        "suite.scenarios.0.caller.0",
        "suite.scenarios.1.caller",
        "suite.scenarios.2.expect.turns.min",
        "suite.scenarios.3.caller.0.dtmf",
    }, response.json()["errors"]
    assert http.get(f"/v1/agents/{agent['id']}/eval-suite").status_code == 404
