"""``/v1/webhooks``: endpoints, signed deliveries of a real call's events, retries with backoff,
stale timestamps refused by the receiver, and secret rotation with two signatures."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.api.conftest import ApiServer, Tenant
from tests.api.helpers import create_agent, create_number, demo_agent_body, ring
from tests.api.receiver import Receiver

from aybiza.simulator.twilio_client import SimulatedCall

ALL_EVENTS = ["call.started", "call.ended", "transcript.final"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


def _subscribe(
    http: httpx.Client, receiver: Receiver, events: list[str] | None = None
) -> dict[str, Any]:
    response = http.post("/v1/webhooks", json={"url": receiver.url, "events": events or ALL_EVENTS})
    assert response.status_code == 201, response.text
    endpoint: dict[str, Any] = response.json()
    receiver.secrets.append(endpoint["secret"])
    return endpoint


def _refused_call(api: ApiServer, http: httpx.Client) -> str:
    """A call.ended event without a real call: a tenant at its limit refuses the call."""
    number = create_number(http, create_agent(http)["id"])["number"]
    name = http.get("/v1/tenant").json()["name"]
    api.run(api.app.state.tenants.ensure_tenant(name, max_concurrent_calls=0))
    return ring(api.twilio, number).call_sid


def test_endpoints_are_created_read_changed_and_deleted(http: httpx.Client) -> None:
    created = http.post(
        "/v1/webhooks", json={"url": "https://example.com/hook", "events": ["call.ended"]}
    )
    assert created.status_code == 201, created.text
    endpoint = created.json()
    assert endpoint["secret"].startswith("whsec_")
    path = f"/v1/webhooks/{endpoint['id']}"
    fetched = http.get(path).json()
    assert "secret" not in fetched and fetched["events"] == ["call.ended"]
    assert [e["id"] for e in http.get("/v1/webhooks").json()["data"]] == [endpoint["id"]]
    changed = http.patch(path, json={"events": ALL_EVENTS, "enabled": False}).json()
    assert changed["events"] == ALL_EVENTS and changed["enabled"] is False
    assert http.get(f"{path}/deliveries").json() == {"data": [], "next_cursor": None}
    assert http.delete(path).status_code == 204
    assert http.get(path).status_code == 404


def test_invalid_endpoints_are_rejected_naming_the_field(http: httpx.Client) -> None:
    for body, field in (
        ({"url": "ftp://example.com", "events": ["call.ended"]}, "url"),
        ({"url": "not a url", "events": ["call.ended"]}, "url"),
        ({"url": "https://example.com", "events": []}, "events"),
        ({"url": "https://example.com", "events": ["call.lost"]}, "events.0"),
        ({"url": "https://example.com", "events": ["call.ended", "call.ended"]}, "events"),
        ({"url": "https://example.com"}, "events"),
    ):
        response = http.post("/v1/webhooks", json=body)
        assert response.status_code == 422, body
        assert field in [e["field"] for e in response.json()["errors"]], response.text


def test_item1_webhook_urls_to_refused_addresses_get_422_naming_url(http: httpx.Client) -> None:
    # Only the creation check sees these (no DNS, no connection); this server's operator
    # allows loopback alone, for the tests' receivers.
    for url in (
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/hook",
        "http://[fe80::1]/hook",
        "http://100.64.0.1/hook",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://printer.local/hook",
    ):
        response = http.post("/v1/webhooks", json={"url": url, "events": ["call.ended"]})
        assert response.status_code == 422, (url, response.text)
        error = response.json()["error"]
        assert error["field"] == "url" and "AYBIZA_OUTBOUND_ALLOW_CIDRS" in error["message"]
    created = http.post(
        "/v1/webhooks", json={"url": "https://example.com/hook", "events": ["call.ended"]}
    ).json()
    path = f"/v1/webhooks/{created['id']}"
    changed = http.patch(path, json={"url": "http://169.254.169.254/latest/meta-data/"})
    assert changed.status_code == 422, changed.text
    assert changed.json()["error"]["field"] == "url"
    assert "169.254.169.254 is a link-local address" in changed.json()["error"]["message"]
    assert http.get(path).json()["url"] == "https://example.com/hook"


async def test_a_real_call_s_events_arrive_signed_in_order(
    api: ApiServer, tenant: Tenant, receiver: Receiver
) -> None:
    setup = api.client(tenant.key)
    endpoint = _subscribe(setup, receiver)
    number = create_number(setup, create_agent(setup, demo_agent_body())["id"])["number"]
    async with asyncio.timeout(90):
        call = await SimulatedCall.dial(api.base_url, to=number)
        async with call:
            await call.wait_for_agent_audio(timeout=30)
            await call.wait_until_agent_done(timeout=30)
    ended = (await asyncio.to_thread(receiver.wait_for, 1, "call.ended"))[0]
    started = receiver.wait_for(1, "call.started")[0]
    lines = receiver.wait_for(1, "transcript.final")
    assert started.body["data"]["call_sid"] == call.call_sid
    assert started.body["data"]["status"] == "in-progress"
    greeting = lines[0].body["data"]
    assert greeting["speaker"] == "agent" and greeting["text"].startswith("Hello, thank you")
    report = ended.body["data"]
    assert report["ended_reason"] == "caller-hangup" and report["call_sid"] == call.call_sid
    assert report["transcript"][0]["text"] == greeting["text"]
    assert set(report["cost"]) >= {"telephony", "stt", "llm", "tts", "total"}
    async with api.aclient(tenant.key) as http:
        fetched = (await http.get(f"/v1/calls/{call.call_sid}")).json()
        deliveries = (await http.get(f"/v1/webhooks/{endpoint['id']}/deliveries")).json()["data"]
    # The post-call analysis and its workflow run come after call.ended; cost is priced on read;
    # ``withheld`` says what the API's reader may not see (nothing, for this key).
    later = {"cost", "analysis", "workflow_runs", "withheld"}
    assert {k: v for k, v in fetched.items() if k not in later} == {
        k: v for k, v in report.items() if k not in later
    }
    assert fetched["cost"]["total"] == report["cost"]["total"]
    assert all(d["status"] == "delivered" and d["attempts"] == 1 for d in deliveries)
    assert {d["event"] for d in deliveries} == set(ALL_EVENTS)
    assert all(r.status == 200 for r in receiver.received)


def test_failed_deliveries_are_retried_with_growing_delays(
    api: ApiServer, http: httpx.Client, receiver: Receiver
) -> None:
    endpoint = _subscribe(http, receiver, ["call.ended"])
    receiver.fail_next = 2
    call_sid = _refused_call(api, http)
    delivered = receiver.wait_for(1, "call.ended")[0]
    assert delivered.body["data"]["call_sid"] == call_sid
    assert delivered.body["data"]["ended_reason"] == "concurrency-limit"
    attempts = [r for r in receiver.received if r.delivery == delivered.delivery]
    assert [r.status for r in attempts] == [500, 500, 200]
    first_gap, second_gap = (b.at - a.at for a, b in itertools.pairwise(attempts))
    # Backoff 0.2 s, then 0.4 s (plus up to 10% jitter): the wait doubles with each attempt.
    assert first_gap >= 0.2 and second_gap >= 0.4
    # The receiver answered before the dispatcher commits what it heard: wait for that.
    for _ in range(200):
        deliveries = http.get(f"/v1/webhooks/{endpoint['id']}/deliveries").json()["data"]
        if deliveries and deliveries[0]["status"] != "pending":
            break
        time.sleep(0.05)
    assert [(d["status"], d["attempts"], d["last_status_code"]) for d in deliveries] == [
        ("delivered", 3, 200)
    ]


def test_deliveries_stop_after_the_last_attempt(
    api: ApiServer, http: httpx.Client, receiver: Receiver
) -> None:
    endpoint = _subscribe(http, receiver, ["call.ended"])
    receiver.fail_next = 100
    _refused_call(api, http)
    path = f"/v1/webhooks/{endpoint['id']}/deliveries"
    for _ in range(200):
        deliveries = http.get(path).json()["data"]
        if deliveries and deliveries[0]["status"] == "failed":
            break
        time.sleep(0.05)
    assert [(d["status"], d["attempts"], d["last_error"]) for d in deliveries] == [
        ("failed", 4, "HTTP 500")
    ]
    assert len(receiver.received) == 4


def test_the_receiver_refuses_stale_timestamps_and_the_retry_gets_through(
    api: ApiServer, http: httpx.Client, receiver: Receiver
) -> None:
    _subscribe(http, receiver, ["call.ended"])
    receiver.clock_offset_s = 301
    _refused_call(api, http)
    for _ in range(200):
        if receiver.received:
            break
        time.sleep(0.02)
    receiver.clock_offset_s = 0
    delivered = receiver.wait_for(1, "call.ended")[0]
    statuses = [r.status for r in receiver.received if r.delivery == delivered.delivery]
    assert statuses[0] == 400 and statuses[-1] == 200


def test_during_a_rotation_both_secrets_sign(
    api: ApiServer, http: httpx.Client, receiver: Receiver
) -> None:
    endpoint = _subscribe(http, receiver, ["call.ended"])
    old = receiver.secrets.pop()
    rotated = http.post(
        f"/v1/webhooks/{endpoint['id']}/rotate-secret", json={"grace_period_s": 600}
    )
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new != old and rotated.json()["previous_secret_expires_at"] is not None
    receiver.secrets[:] = [old]
    _refused_call(api, http)
    with_old = receiver.wait_for(1, "call.ended")[-1]
    assert with_old.signature.count("v1=") == 2
    receiver.secrets[:] = [new]
    _refused_call(api, http)
    assert len(receiver.wait_for(2, "call.ended")) == 2
    finished = http.post(f"/v1/webhooks/{endpoint['id']}/rotate-secret", json={"grace_period_s": 0})
    newest = finished.json()["secret"]
    receiver.secrets[:] = [newest]
    _refused_call(api, http)
    last = receiver.wait_for(3, "call.ended")[-1]
    assert last.signature.count("v1=") == 1


def test_only_subscribed_enabled_endpoints_of_the_call_s_tenant_get_events(
    api: ApiServer, http: httpx.Client, receiver: Receiver
) -> None:
    wants_start = _subscribe(http, receiver, ["call.started"])
    disabled = _subscribe(http, receiver, ["call.ended"])
    http.patch(f"/v1/webhooks/{disabled['id']}", json={"enabled": False})
    other = api.client(api.tenant().key)
    _subscribe(other, receiver, ["call.ended"])
    _refused_call(api, http)
    time.sleep(0.5)
    assert receiver.received == []
    assert http.get(f"/v1/webhooks/{wants_start['id']}/deliveries").json()["data"] == []
