"""``/v1/phone-numbers``: records with validation, sealed SIP credentials, and the routing the
incoming-call webhook follows (pinned version, weighted A/B split, published version)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
from sqlalchemy import select
from tests.api.conftest import OPERATOR_KEY, ApiServer
from tests.api.helpers import agent_body, create_agent, create_number, new_e164, ring

from aybiza.services.numbers import NumberService
from aybiza.store.database import Database
from aybiza.store.models import PhoneNumber


def _versions(http: httpx.Client, *greetings: str) -> dict[str, str]:
    """An agent with versions 1.0.0 (published) and one more per greeting."""
    agent = create_agent(http)
    for index, greeting in enumerate(greetings, start=1):
        body = agent_body(greeting=greeting, version=f"1.{index}.0")
        assert http.put(f"/v1/agents/{agent['id']}", json=body).status_code == 200
    return {"id": agent["id"]}


def test_a_number_is_registered_read_listed_changed_and_released(
    api: ApiServer, http: httpx.Client
) -> None:
    agent = create_agent(http)
    created = create_number(
        http,
        agent["id"],
        region="us-east-1",
        fallback_region="us-west-2",
        fallback_number="+14155550199",
    )
    assert created["provisioning"] == "external" and created["type"] == "twilio"
    assert created["agent_version"] is None and created["sip"] is None
    assert http.get(f"/v1/phone-numbers/{created['id']}").json() == created
    assert [n["id"] for n in http.get("/v1/phone-numbers").json()["data"]] == [created["id"]]
    changed = http.patch(f"/v1/phone-numbers/{created['id']}", json={"fallback_number": None})
    assert changed.status_code == 200 and changed.json()["fallback_number"] is None
    assert changed.json()["fallback_region"] == "us-west-2"
    assert ring(api.twilio, created["number"]).streams
    assert http.delete(f"/v1/phone-numbers/{created['id']}").status_code == 204
    assert http.get(f"/v1/phone-numbers/{created['id']}").status_code == 404
    gone = ring(api.twilio, created["number"])
    assert not gone.streams and "not connected to an agent" in gone.said[0]
    # A call to a number nobody registered belongs to the operator's tenant, not the last owner.
    assert http.get(f"/v1/calls/{gone.call_sid}").status_code == 404
    operator = api.client(OPERATOR_KEY).get(f"/v1/calls/{gone.call_sid}")
    assert operator.status_code == 200 and operator.json()["ended_reason"] == "unknown-number"


def test_invalid_numbers_are_rejected_naming_each_field(http: httpx.Client) -> None:
    agent = create_agent(http)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"number": "555-1234"}, "number"),
        ({"type": "pots"}, "type"),
        ({"agent_id": "0" * 32}, "agent_id"),
        ({"agent_id": "../../etc"}, "agent_id"),
        ({"agent_version": "7.0.0"}, "agent_version"),
        ({"version_weights": {"1.0.0": 50, "4.0.0": 50}}, "version_weights.4.0.0"),
        ({"version_weights": {"1.0.0": 0}}, "version_weights"),
        ({"version_weights": {"1.0.0": -1}}, "version_weights.1.0.0"),
        ({"agent_version": "1.0.0", "version_weights": {"1.0.0": 1}}, "version_weights"),
        ({"fallback_region": "us-east-1"}, "fallback_region"),
        ({"region": "Mars"}, "region"),
        ({"fallback_number": "call me"}, "fallback_number"),
        ({"type": "sip_trunk"}, "sip"),
        ({"sip": {"gateways": ["sip.example.com"]}}, "sip"),
        ({"type": "sip_trunk", "sip": {"gateways": []}}, "sip.gateways"),
        ({"type": "sip_trunk", "sip": {"gateways": ["bad host!"]}}, "sip.gateways.0"),
        (
            {
                "type": "sip_trunk",
                "sip": {
                    "gateways": ["pbx.example.com"],
                    "auth": {"username": "u", "password": "p", "algorithms": ["SHA-1"]},
                },
            },
            "sip.auth.algorithms.0",
        ),
        (
            {
                "type": "sip_trunk",
                "sip": {
                    "gateways": ["pbx.example.com"],
                    "auth": {"username": "u", "password": "p", "algorithms": ["MD5", "MD5"]},
                },
            },
            "sip.auth.algorithms",
        ),
        ({"colour": "red"}, "colour"),
    ]
    for change, field in cases:
        body = {"number": new_e164(), "type": "twilio", "agent_id": agent["id"], **change}
        response = http.post("/v1/phone-numbers", json=body)
        assert response.status_code == 422, (change, response.text)
        assert field in [e["field"] for e in response.json()["errors"]], (change, response.text)
    assert http.get("/v1/phone-numbers").json()["data"] == []


def test_a_number_belongs_to_one_tenant_only(api: ApiServer, http: httpx.Client) -> None:
    number = create_number(http, create_agent(http)["id"])
    other = api.client(api.tenant().key)
    theirs = create_agent(other)
    taken = other.post(
        "/v1/phone-numbers",
        json={"number": number["number"], "type": "twilio", "agent_id": theirs["id"]},
    )
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "number_unavailable"


def test_number_and_type_cannot_change(http: httpx.Client) -> None:
    number = create_number(http, create_agent(http)["id"])
    path = f"/v1/phone-numbers/{number['id']}"
    response = http.patch(path, json={"number": new_e164(), "type": "managed"})
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"number", "type"}
    assert http.patch(path, json={"number": number["number"]}).status_code == 200


def test_sip_trunk_passwords_are_sealed_at_rest_and_never_returned(
    api: ApiServer, http: httpx.Client
) -> None:
    password = "s3cret-trunk-password"
    created = http.post(
        "/v1/phone-numbers",
        json={
            "number": new_e164(),
            "type": "sip_trunk",
            "agent_id": create_agent(http)["id"],
            "sip": {
                "gateways": ["sip.carrier.example.com:5060", "10.0.0.7"],
                "auth": {"username": "acme", "password": password},
                "region": "eu-west-1",
            },
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["sip"] == {
        "gateways": ["sip.carrier.example.com:5060", "10.0.0.7"],
        "transport": "udp",
        "allowed_cidrs": [],
        "register": False,
        "auth": {"username": "acme", "algorithms": ["SHA-256", "MD5"], "password_set": True},
        "region": "eu-west-1",
    }
    assert password not in created.text
    assert password not in http.get(f"/v1/phone-numbers/{created.json()['id']}").text
    service: NumberService = api.app.state.numbers

    async def stored() -> PhoneNumber:
        database: Database = api.app.state.database
        async with database.session() as session:
            rows = await session.execute(
                select(PhoneNumber).where(PhoneNumber.id == created.json()["id"])
            )
            return rows.scalar_one()

    row = api.run(stored())
    assert row.sip_password_sealed is not None and password not in row.sip_password_sealed
    assert password not in str(row.sip)
    assert service.sip_password(row) == password


def test_calls_run_the_published_version_until_another_is_published(
    api: ApiServer, http: httpx.Client
) -> None:
    agent = _versions(http, "second")
    number = create_number(http, agent["id"])
    answer = ring(api.twilio, number["number"])
    assert answer.parameter("agent_version") == "1.0.0"
    http.post(f"/v1/agents/{agent['id']}/publish", json={"version": "1.1.0"})
    answer = ring(api.twilio, number["number"])
    assert answer.parameter("agent_version") == "1.1.0"
    record = http.get(f"/v1/calls/{answer.call_sid}").json()
    assert record["agent"]["version"] == "1.1.0"
    version_ids = {
        v["version"]: v["id"] for v in http.get(f"/v1/agents/{agent['id']}/versions").json()["data"]
    }
    assert record["agent"]["version_id"] == version_ids["1.1.0"]


def test_a_pinned_number_runs_its_version_whatever_is_published(
    api: ApiServer, http: httpx.Client
) -> None:
    agent = _versions(http, "second", "third")
    number = create_number(http, agent["id"], agent_version="1.1.0")
    assert {ring(api.twilio, number["number"]).parameter("agent_version") for _ in range(5)} == {
        "1.1.0"
    }
    http.patch(f"/v1/phone-numbers/{number['id']}", json={"agent_version": None})
    assert ring(api.twilio, number["number"]).parameter("agent_version") == "1.0.0"


def test_a_weighted_number_splits_calls_across_versions_by_weight(
    api: ApiServer, http: httpx.Client
) -> None:
    agent = _versions(http, "variant b", "never")
    number = create_number(
        http, agent["id"], version_weights={"1.0.0": 80, "1.1.0": 20, "1.2.0": 0}
    )
    counts = Counter(
        ring(api.twilio, number["number"]).parameter("agent_version") for _ in range(200)
    )
    assert set(counts) == {"1.0.0", "1.1.0"}
    # Binomial(200, 0.2): mean 40, standard deviation 5.7; the bounds are over 4 deviations.
    assert 17 <= counts["1.1.0"] <= 63, counts


def test_pointing_a_number_at_another_agent_clears_its_pin(http: httpx.Client) -> None:
    first = _versions(http, "second")
    number = create_number(http, first["id"], agent_version="1.1.0")
    other = create_agent(http)
    moved = http.patch(f"/v1/phone-numbers/{number['id']}", json={"agent_id": other["id"]})
    assert moved.status_code == 200 and moved.json()["agent_version"] is None
    bad_pin = http.patch(f"/v1/phone-numbers/{number['id']}", json={"agent_version": "1.1.0"})
    assert bad_pin.status_code == 422 and bad_pin.json()["error"]["field"] == "agent_version"
