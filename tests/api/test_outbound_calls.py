"""``POST /v1/calls``: outbound calls placed through Twilio's REST API (the fake), answered by
the agent through the same webhook and media stream as incoming calls, followed through status
callbacks, hung up through REST before they connect, refused with the field named."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from tests.api.carrier import CUSTOMER_SID, CUSTOMER_TOKEN, PLATFORM_SID, PLATFORM_TOKEN, Carrier
from tests.api.conftest import ApiServer, Tenant
from tests.api.helpers import create_agent, create_number, demo_agent_body, new_e164

from aybiza.simulator.twilio_client import SimulatedCall
from aybiza.simulator.webhook import parse_twiml, stream_connect_url
from aybiza.store.database import Database
from aybiza.store.models import Call, utcnow

CALLEE = "+15558675310"


def _managed(http: httpx.Client, agent_id: str, **fields: Any) -> dict[str, Any]:
    body = {"number": new_e164(), "type": "managed", "agent_id": agent_id, **fields}
    response = http.post("/v1/phone-numbers", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _setup(
    carrier: Carrier, *, limit: int = 100
) -> tuple[Tenant, httpx.Client, str, dict[str, Any]]:
    tenant = carrier.api.tenant(max_concurrent_calls=limit)
    http = carrier.api.client(tenant.key)
    agent_id = create_agent(http)["id"]
    return tenant, http, agent_id, _managed(http, agent_id)


def _place(http: httpx.Client, **body: Any) -> dict[str, Any]:
    response = http.post("/v1/calls", json={"to": CALLEE, **body})
    assert response.status_code == 201, response.text
    placed: dict[str, Any] = response.json()
    return placed


def test_a_call_is_placed_with_the_platform_s_urls_and_every_status_event(
    carrier: Carrier,
) -> None:
    _, http, agent_id, number = _setup(carrier)
    placed = _place(http, from_number_id=number["id"])
    assert placed["status"] == "queued" and placed["direction"] == "outbound-api"
    assert placed["from"] == number["number"] and placed["to"] == CALLEE
    assert placed["agent"]["id"] == agent_id and placed["agent"]["version"] == "1.0.0"
    assert placed["call_sid"] in carrier.fake.calls
    request = next(
        r for r in carrier.fake.recorded("POST", "/Calls.json") if r.value("From") == placed["from"]
    )
    assert request.account_sid == PLATFORM_SID
    assert request.form["To"] == [CALLEE] and request.form["Method"] == ["POST"]
    voice = urlsplit(request.form["Url"][0])
    assert f"{voice.scheme}://{voice.netloc}{voice.path}" == f"{carrier.api.base_url}/twilio/voice"
    assert parse_qs(voice.query) == {"call_id": [placed["id"]]}
    assert request.form["StatusCallback"] == [
        f"{carrier.api.base_url}/twilio/status?call_id={placed['id']}"
    ]
    assert request.form["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    by_number = _place(http, **{"from": number["number"]})
    assert by_number["from"] == number["number"]


def test_status_callbacks_move_the_call_on_and_end_it_when_nobody_answers(
    carrier: Carrier,
) -> None:
    _, http, _, number = _setup(carrier)
    placed = _place(http, from_number_id=number["id"])
    sid = placed["call_sid"]
    assert carrier.run_fake(carrier.fake.send_status(sid, "initiated")) == 204
    assert http.get(f"/v1/calls/{sid}").json()["status"] == "queued"
    carrier.fake.calls[sid].status = "ringing"
    assert carrier.run_fake(carrier.fake.send_status(sid, "ringing")) == 204
    assert http.get(f"/v1/calls/{sid}").json()["status"] == "ringing"
    assert (
        http.get("/v1/calls", params={"status": "ringing"}).json()["data"][0]["id"] == placed["id"]
    )
    carrier.run_fake(carrier.fake.hang_up(sid, "no-answer"))
    ended = http.get(f"/v1/calls/{sid}").json()
    assert ended["status"] == "completed" and ended["ended_reason"] == "no-answer"
    busy = _place(http, from_number_id=number["id"])
    carrier.run_fake(carrier.fake.hang_up(busy["call_sid"], "busy"))
    assert http.get(f"/v1/calls/{busy['id']}").json()["ended_reason"] == "busy"


def test_status_callbacks_must_be_signed_by_the_account(carrier: Carrier) -> None:
    _, http, _, number = _setup(carrier)
    placed = _place(http, from_number_id=number["id"])
    form = {
        "AccountSid": PLATFORM_SID,
        "CallSid": placed["call_sid"],
        "CallStatus": "busy",
        "Direction": "outbound-api",
        "From": placed["from"],
        "To": CALLEE,
    }
    query = f"call_id={placed['id']}"
    assert carrier.signed_post("/twilio/status", form, "not-the-token", query).status_code == 403
    assert http.get(f"/v1/calls/{placed['id']}").json()["ended_at"] is None
    assert carrier.signed_post("/twilio/status", form, PLATFORM_TOKEN, query).status_code == 204
    assert http.get(f"/v1/calls/{placed['id']}").json()["ended_reason"] == "busy"


async def test_the_callee_is_answered_by_the_agent_over_the_media_stream(
    carrier: Carrier,
) -> None:
    tenant = carrier.api.tenant(max_concurrent_calls=100)
    setup = carrier.api.client(tenant.key)
    agent_id = create_agent(setup, demo_agent_body())["id"]
    number = _managed(setup, agent_id)
    async with carrier.api.aclient(tenant.key) as http, asyncio.timeout(90):
        response = await http.post("/v1/calls", json={"to": CALLEE, "from": number["number"]})
        assert response.status_code == 201, response.text
        placed = response.json()
        twiml = await carrier.background.arun(carrier.fake.answer(placed["call_sid"]))
        answer = parse_twiml(twiml)
        assert answer.stream_url is not None
        assert answer.custom_parameters["call_id"] == placed["id"]
        assert answer.custom_parameters["from"] == number["number"]
        call = await SimulatedCall.connect_stream(
            stream_connect_url(answer.stream_url, carrier.api.base_url),
            signed_url=answer.stream_url,
            custom_parameters=answer.custom_parameters,
            auth_token=PLATFORM_TOKEN,
            call_sid=placed["call_sid"],
            account_sid=PLATFORM_SID,
            twiml=twiml,
        )
        async with call:
            await call.wait_for_agent_audio(timeout=30)
            live = await _when(http, placed["id"], lambda c: c["status"] == "in-progress")
            assert live["started_at"] is not None
            hangup = await http.post(f"/v1/calls/{placed['id']}/hangup")
            assert hangup.status_code == 200, hangup.text
            assert hangup.json()["call"]["ended_reason"] == "api-hangup"
            await call.wait_until_ended(timeout=10)
        # Twilio's final callback changes nothing the stream recorded.
        await carrier.background.arun(carrier.fake.hang_up(placed["call_sid"]))
        record = (await http.get(f"/v1/calls/{placed['id']}")).json()
        assert record["ended_reason"] == "api-hangup" and record["direction"] == "outbound-api"


async def _when(
    http: httpx.AsyncClient, call_id: str, done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The call once ``done`` holds (the call loop writes through a background writer)."""
    for _ in range(200):
        record: dict[str, Any] = (await http.get(f"/v1/calls/{call_id}")).json()
        if done(record):
            return record
        await asyncio.sleep(0.05)
    raise AssertionError(f"call {call_id} never got there: {record}")


def test_a_call_from_an_imported_number_uses_the_customer_s_account(carrier: Carrier) -> None:
    tenant = carrier.api.tenant(max_concurrent_calls=100)
    http = carrier.api.client(tenant.key)
    agent_id = create_agent(http)["id"]
    e164 = new_e164()
    carrier.fake.add_number(CUSTOMER_SID, e164)
    number = http.post(
        "/v1/phone-numbers",
        json={
            "number": e164,
            "type": "twilio",
            "agent_id": agent_id,
            "twilio_account_sid": CUSTOMER_SID,
            "twilio_auth_token": CUSTOMER_TOKEN,
        },
    ).json()
    placed = _place(http, from_number_id=number["id"])
    assert carrier.fake.calls[placed["call_sid"]].account_sid == CUSTOMER_SID
    # Twilio signs the answer with the customer's token; the stream path names the call.
    twiml = carrier.run_fake(carrier.fake.answer(placed["call_sid"]))
    assert parse_twiml(twiml).stream_url.endswith(f"/twilio/stream/{placed['id']}")  # type: ignore[union-attr]


def test_a_call_not_yet_answered_is_hung_up_through_twilio(carrier: Carrier) -> None:
    _, http, _, number = _setup(carrier)
    placed = _place(http, from_number_id=number["id"])
    response = http.post(f"/v1/calls/{placed['id']}/hangup")
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "ended"
    assert response.json()["call"]["ended_reason"] == "api-hangup"
    assert carrier.fake.calls[placed["call_sid"]].status == "canceled"
    update = carrier.fake.recorded("POST", f"/Calls/{placed['call_sid']}.json")[-1]
    assert update.form == {"Status": ["canceled"]}
    assert http.post(f"/v1/calls/{placed['id']}/hangup").status_code == 409


def test_twilio_s_callback_arriving_before_an_api_hang_up_is_recorded_keeps_api_hangup(
    carrier: Carrier,
) -> None:
    """Twilio may call back ``canceled`` before the hang-up request has finished writing its
    outcome; the request is on the call row first, so the call still ends as ``api-hangup``."""
    _, http, _, number = _setup(carrier)
    placed = _place(http, from_number_id=number["id"])
    database: Database = carrier.api.app.state.database

    async def request_hangup() -> None:  # what the hang-up writes before asking Twilio
        async with database.writing() as session:
            row = await session.get(Call, placed["id"])
            assert row is not None
            row.hangup_requested_at = utcnow()

    carrier.api.run(request_hangup())
    form = {
        "AccountSid": PLATFORM_SID,
        "CallSid": placed["call_sid"],
        "CallStatus": "canceled",
        "Direction": "outbound-api",
        "From": placed["from"],
        "To": CALLEE,
    }
    query = f"call_id={placed['id']}"
    assert carrier.signed_post("/twilio/status", form, PLATFORM_TOKEN, query).status_code == 204
    assert http.get(f"/v1/calls/{placed['id']}").json()["ended_reason"] == "api-hangup"


def test_the_tenant_s_concurrency_limit_holds_for_outbound_calls(carrier: Carrier) -> None:
    _, http, _, number = _setup(carrier, limit=1)
    _place(http, from_number_id=number["id"])
    refused = http.post("/v1/calls", json={"to": CALLEE, "from_number_id": number["id"]})
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "concurrency_limit"


def test_twilio_refusing_a_call_is_a_502_naming_its_code(carrier: Carrier) -> None:
    tenant = carrier.api.tenant(max_concurrent_calls=100)
    http = carrier.api.client(tenant.key)
    agent_id = create_agent(http)["id"]
    # Recorded without credentials: the platform's account tries, and does not own it.
    number = create_number(http, agent_id)
    response = http.post("/v1/calls", json={"to": CALLEE, "from_number_id": number["id"]})
    assert response.status_code == 502, response.text
    error = response.json()["error"]
    assert error["code"] == "call_failed" and error["twilio_code"] == 21210
    assert error["field"] == "from_number_id"
    assert http.get("/v1/calls").json()["data"] == [], "a call never placed is not kept"


def test_bad_call_requests_name_the_field(carrier: Carrier) -> None:
    _, http, agent_id, number = _setup(carrier)
    other_agent = create_agent(http)["id"]
    sip = http.post(
        "/v1/phone-numbers",
        json={
            "number": new_e164(),
            "type": "sip_trunk",
            "agent_id": agent_id,
            "sip": {"gateways": ["sip.example.com"]},
        },
    ).json()
    for body, field in (
        ({"to": "5551234"}, "to"),
        ({"to": CALLEE}, "from_number_id"),
        ({"to": CALLEE, "from": number["number"], "from_number_id": number["id"]}, "from"),
        ({"to": CALLEE, "from": new_e164()}, "from"),
        ({"to": CALLEE, "from_number_id": sip["id"]}, "from_number_id"),
        ({"to": CALLEE, "from_number_id": number["id"], "agent_id": "x" * 32}, "agent_id"),
        ({"to": CALLEE, "from_number_id": number["id"], "agent_version": "9.9.9"}, "agent_version"),
        ({"to": CALLEE, "from_number_id": number["id"], "loud": True}, "loud"),
    ):
        response = http.post("/v1/calls", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["field"] == field, (body, response.text)
    chosen = _place(http, from_number_id=number["id"], agent_id=other_agent)
    assert chosen["agent"]["id"] == other_agent


def test_another_tenant_cannot_reach_an_outbound_call(carrier: Carrier) -> None:
    _, http, _, number = _setup(carrier)
    placed = _place(http, from_number_id=number["id"])
    intruder = carrier.api.client(carrier.api.tenant().key)
    for ref in (placed["id"], placed["call_sid"]):
        assert intruder.get(f"/v1/calls/{ref}").status_code == 404
        assert intruder.post(f"/v1/calls/{ref}/hangup").status_code == 404
    theirs = intruder.post("/v1/calls", json={"to": CALLEE, "from_number_id": number["id"]})
    assert theirs.status_code == 422 and theirs.json()["error"]["field"] == "from_number_id"
    assert carrier.fake.calls[placed["call_sid"]].status == "queued"


@pytest.mark.parametrize("scope", ["calls:read", "numbers:write"])
def test_placing_a_call_needs_the_calls_write_scope(api: ApiServer, scope: str) -> None:
    tenant = api.tenant()
    response = api.client(api.key(tenant, (scope,))).post("/v1/calls", json={"to": CALLEE})
    assert response.status_code == 403
    assert response.json()["error"]["required_scope"] == "calls:write"


def test_without_twilio_credentials_a_call_is_refused_naming_the_number(
    api: ApiServer, http: httpx.Client
) -> None:
    number = create_number(http, create_agent(http)["id"])
    response = http.post("/v1/calls", json={"to": CALLEE, "from_number_id": number["id"]})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "from_number_id"
    assert "TWILIO_ACCOUNT_SID" in response.json()["error"]["message"]
