"""Twilio's answering-machine detection on calls placed through ``POST /v1/calls``: an agent
with ``voicemail.detection: carrier`` asks Twilio for ``MachineDetection=DetectMessageEnd``
with an asynchronous result; the fake Twilio posts ``AnsweredBy`` to the callback (signed like
every Twilio webhook) while the media stream runs, and the call loop greets the person, or
leaves the agent's message on the machine and hangs up."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from tests.api.carrier import PLATFORM_SID, PLATFORM_TOKEN, Carrier
from tests.api.helpers import create_agent, demo_agent_body, new_e164
from tests.fakes.twilio_resources import AMD_RANGES
from tests.fakes.twilio_rest import FakeTwilio

from aybiza.agents.errors import FieldError
from aybiza.errors import Invalid
from aybiza.simulator.twilio_client import SimulatedCall
from aybiza.simulator.webhook import parse_twiml, stream_connect_url
from aybiza.store.calls import call_by_sid
from aybiza.telephony.twilio.amd import machine_verdict
from aybiza.telephony.twilio.rest import TwilioCredentials, TwilioRest, TwilioRestError

CALLEE = "+15558675310"
MESSAGE = "This is Northwind Dental: your cleaning is on Friday at nine. Goodbye."
SCREEN = {"detection": "carrier", "action": "leave_message", "message": MESSAGE}


def _number(http: httpx.Client, voicemail: dict[str, Any] | None) -> dict[str, Any]:
    body = demo_agent_body(**({"voicemail": voicemail} if voicemail else {}))
    agent_id = create_agent(http, body)["id"]
    response = http.post(
        "/v1/phone-numbers", json={"number": new_e164(), "type": "managed", "agent_id": agent_id}
    )
    assert response.status_code == 201, response.text
    number: dict[str, Any] = response.json()
    return number


def _place(http: httpx.Client, number: dict[str, Any]) -> dict[str, Any]:
    response = http.post("/v1/calls", json={"to": CALLEE, "from": number["number"]})
    assert response.status_code == 201, response.text
    placed: dict[str, Any] = response.json()
    return placed


@pytest.mark.parametrize(
    ("answered_by", "outcome", "message_end"),
    [
        ("human", "human", None),
        ("machine_start", "machine", None),
        ("machine_end_beep", "machine", "beep"),
        ("machine_end_silence", "machine", "silence"),
        ("machine_end_other", "machine", "other"),
        ("fax", "fax", None),
        ("unknown", "unknown", None),
    ],
)
def test_every_answered_by_value_maps_to_an_outcome(
    answered_by: str, outcome: str, message_end: str | None
) -> None:
    form = {
        "CallSid": "CA" + "0" * 32,
        "AnsweredBy": answered_by,
        "MachineDetectionDuration": "4120",
    }
    verdict = machine_verdict(form)
    assert (verdict.answered_by, verdict.message_end) == (outcome, message_end)
    assert verdict.duration_ms == 4120 and verdict.carrier_value == answered_by


def test_a_value_twilio_never_sends_is_refused_naming_the_field() -> None:
    with pytest.raises(Invalid) as refused:
        machine_verdict({"CallSid": "CA1", "AnsweredBy": "robot"})
    assert refused.value.errors[0] == FieldError(
        "AnsweredBy",
        "expected one of human, machine_start, machine_end_beep, machine_end_silence, "
        "machine_end_other, fax, unknown",
        "robot",
    )
    with pytest.raises(Invalid, match="MachineDetectionDuration"):
        machine_verdict({"CallSid": "CA1", "AnsweredBy": "human", "MachineDetectionDuration": "x"})


def test_a_screening_agent_asks_twilio_for_asynchronous_detection(carrier: Carrier) -> None:
    tenant = carrier.api.tenant(max_concurrent_calls=100)
    http = carrier.api.client(tenant.key)
    placed = _place(http, _number(http, SCREEN))
    request = next(
        r for r in carrier.fake.recorded("POST", "/Calls.json") if r.value("From") == placed["from"]
    )
    assert request.form["MachineDetection"] == ["DetectMessageEnd"]
    assert request.form["AsyncAmd"] == ["true"]
    assert request.form["AsyncAmdStatusCallback"] == [
        f"{carrier.api.base_url}/twilio/amd?call_id={placed['id']}"
    ]
    assert request.form["AsyncAmdStatusCallbackMethod"] == ["POST"]
    plain = _place(http, _number(http, None))
    request = next(
        r for r in carrier.fake.recorded("POST", "/Calls.json") if r.value("From") == plain["from"]
    )
    assert "MachineDetection" not in request.form and "AsyncAmd" not in request.form
    # Hanging up on machines needs no wait for the greeting's end: Twilio reports at once.
    hang_up = _place(http, _number(http, {"detection": "carrier", "action": "hang_up"}))
    request = next(
        r
        for r in carrier.fake.recorded("POST", "/Calls.json")
        if r.value("From") == hang_up["from"]
    )
    assert request.form["MachineDetection"] == ["Enable"] and request.form["AsyncAmd"] == ["true"]


def test_the_agent_s_detection_tuning_reaches_twilio_which_checks_its_ranges(
    carrier: Carrier,
) -> None:
    tenant = carrier.api.tenant(max_concurrent_calls=100)
    http = carrier.api.client(tenant.key)
    tuned = SCREEN | {
        "machine_detection_timeout_s": 45,
        "machine_detection_speech_threshold_ms": 3000,
        "machine_detection_speech_end_threshold_ms": 800,
        "machine_detection_silence_timeout_ms": 4000,
    }
    placed = _place(http, _number(http, tuned))
    request = next(
        r for r in carrier.fake.recorded("POST", "/Calls.json") if r.value("From") == placed["from"]
    )
    sent = {k: v for k, v in request.form.items() if k.startswith("MachineDetection")}
    assert sent == {
        "MachineDetection": ["DetectMessageEnd"],
        "MachineDetectionTimeout": ["45"],
        "MachineDetectionSpeechThreshold": ["3000"],
        "MachineDetectionSpeechEndThreshold": ["800"],
        "MachineDetectionSilenceTimeout": ["4000"],
    }
    [fake_call] = [c for c in carrier.fake.calls.values() if c.from_ == placed["from"]]
    assert fake_call.amd_tuning["MachineDetectionSpeechEndThreshold"] == 800
    # Untuned: Twilio's defaults, nothing sent.
    plain = _place(http, _number(http, SCREEN))
    request = next(
        r for r in carrier.fake.recorded("POST", "/Calls.json") if r.value("From") == plain["from"]
    )
    assert [k for k in request.form if k.startswith("MachineDetection")] == ["MachineDetection"]
    # A value outside Twilio's range never reaches Twilio: the agent is refused, naming it.
    body = demo_agent_body(voicemail=SCREEN | {"machine_detection_silence_timeout_ms": 1500})
    refused = http.post("/v1/agents", json=body)
    assert refused.status_code == 422, refused.text
    assert "voicemail.machine_detection_silence_timeout_ms" in refused.text


async def test_the_fake_twilio_refuses_tuning_outside_its_ranges_as_twilio_does() -> None:
    """Error 21234 for each parameter just outside its range; the edges are accepted. Sent
    with the product's own REST client, as the SDK sends them."""
    credentials = TwilioCredentials(PLATFORM_SID, PLATFORM_TOKEN)
    async with FakeTwilio({PLATFORM_SID: PLATFORM_TOKEN}) as fake:
        number = fake.add_number(PLATFORM_SID, new_e164())
        rest = TwilioRest(fake.url)
        try:
            for name, (low, high) in AMD_RANGES.items():
                argument = "machine_detection_" + _snake(name.removeprefix("MachineDetection"))
                for value, accepted in (
                    (low, True),
                    (high, True),
                    (low - 1, False),
                    (high + 1, False),
                ):
                    try:
                        await rest.create_call(
                            credentials,
                            to=CALLEE,
                            from_=number.phone_number,
                            twiml="<Response/>",
                            machine_detection="Enable",
                            amd_tuning={argument: value},
                        )
                        assert accepted, (name, value)
                    except TwilioRestError as exc:
                        assert not accepted, (name, value, exc)
                        assert exc.code == 21234 and name in str(exc), exc
        finally:
            await rest.aclose()
        placed = [c.amd_tuning for c in fake.calls.values()]
        assert {"MachineDetectionTimeout": 59} in placed and len(placed) == 8


def _snake(camel: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in camel).lstrip("_")


def test_the_detection_callback_is_signed_and_its_fields_checked(carrier: Carrier) -> None:
    tenant = carrier.api.tenant(max_concurrent_calls=100)
    http = carrier.api.client(tenant.key)
    placed = _place(http, _number(http, SCREEN))
    form = {"AccountSid": PLATFORM_SID, "CallSid": placed["call_sid"], "AnsweredBy": "fax"}
    query = f"call_id={placed['id']}"
    assert carrier.signed_post("/twilio/amd", form, "not-the-token", query).status_code == 403
    assert http.get(f"/v1/calls/{placed['id']}").json()["answered_by"] is None
    bad = carrier.signed_post("/twilio/amd", form | {"AnsweredBy": "robot"}, PLATFORM_TOKEN, query)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "AnsweredBy"
    missing = {k: v for k, v in form.items() if k != "AnsweredBy"}
    absent = carrier.signed_post("/twilio/amd", missing, PLATFORM_TOKEN, query)
    assert absent.status_code == 400 and absent.json()["error"]["field"] == "AnsweredBy"
    assert carrier.signed_post("/twilio/amd", form, PLATFORM_TOKEN, query).status_code == 204
    assert http.get(f"/v1/calls/{placed['id']}").json()["answered_by"] == "fax"


async def _connected(
    carrier: Carrier, http: httpx.AsyncClient, number: str, amd_first: str | None = None
) -> tuple[dict[str, Any], SimulatedCall]:
    """Place the call, answer it and connect its stream (after posting ``amd_first`` as the
    detection result, when given)."""
    response = await http.post("/v1/calls", json={"to": CALLEE, "from": number})
    assert response.status_code == 201, response.text
    placed: dict[str, Any] = response.json()
    twiml = await carrier.background.arun(carrier.fake.answer(placed["call_sid"]))
    if amd_first is not None:
        status = await carrier.background.arun(carrier.fake.send_amd(placed["call_sid"], amd_first))
        assert status == 204
    answer = parse_twiml(twiml)
    assert answer.stream_url is not None
    call = await SimulatedCall.connect_stream(
        stream_connect_url(answer.stream_url, carrier.api.base_url),
        signed_url=answer.stream_url,
        custom_parameters=answer.custom_parameters,
        auth_token=PLATFORM_TOKEN,
        call_sid=placed["call_sid"],
        account_sid=PLATFORM_SID,
        twiml=twiml,
    )
    return placed, call


async def _ended(http: httpx.AsyncClient, call_id: str) -> dict[str, Any]:
    for _ in range(200):
        record: dict[str, Any] = (await http.get(f"/v1/calls/{call_id}")).json()
        if record["ended_at"]:
            return record
        await asyncio.sleep(0.05)
    raise AssertionError(f"call {call_id} did not end: {record}")


async def test_on_a_machine_the_message_is_left_once_twilio_hears_the_beep(
    carrier: Carrier,
) -> None:
    tenant = carrier.api.tenant(max_concurrent_calls=100)
    number = _number(carrier.api.client(tenant.key), SCREEN)
    async with carrier.api.aclient(tenant.key) as http, asyncio.timeout(90):
        placed, call = await _connected(carrier, http, number["number"])
        async with call:
            # The greeting is held until Twilio says who answered (an unscreened call
            # would be hearing it by now).
            await asyncio.sleep(1.0)
            assert call.greeting_latency is None, "no agent audio before the verdict"
            status = await carrier.background.arun(
                carrier.fake.send_amd(placed["call_sid"], "machine_end_beep")
            )
            assert status == 204
            await call.wait_for_agent_audio(timeout=30)
            await call.wait_until_ended(timeout=30)
        record = await _ended(http, placed["id"])
    assert record["answered_by"] == "machine" and record["ended_reason"] == "voicemail"
    assert record["stats"]["machine_detection"] == {
        "by": "carrier",
        "reason": "carrier",
        "at_ms": 0,
        "message_end": "beep",
    }
    assert [line["text"] for line in record["transcript"]] == [MESSAGE]


async def test_a_person_is_greeted_once_twilio_says_human(carrier: Carrier) -> None:
    tenant = carrier.api.tenant(max_concurrent_calls=100)
    number = _number(carrier.api.client(tenant.key), SCREEN)
    async with carrier.api.aclient(tenant.key) as http, asyncio.timeout(90):
        placed, call = await _connected(carrier, http, number["number"])
        async with call:
            await asyncio.sleep(1.0)
            assert call.greeting_latency is None, "no agent audio before the verdict"
            await carrier.background.arun(carrier.fake.send_amd(placed["call_sid"], "human"))
            await call.wait_for_agent_audio(timeout=30)
            await call.wait_until_agent_done(timeout=30)
            hangup = await http.post(f"/v1/calls/{placed['id']}/hangup")
            assert hangup.status_code == 200, hangup.text
        record = await _ended(http, placed["id"])
    assert record["answered_by"] == "human" and record["ended_reason"] == "api-hangup"
    assert record["transcript"][0]["speaker"] == "agent"
    assert record["transcript"][0]["text"] == demo_agent_body()["greeting"]


async def test_a_verdict_before_the_stream_connects_is_acted_on_when_it_does(
    carrier: Carrier,
) -> None:
    tenant = carrier.api.tenant(max_concurrent_calls=100)
    number = _number(carrier.api.client(tenant.key), SCREEN)
    async with carrier.api.aclient(tenant.key) as http, asyncio.timeout(90):
        placed, call = await _connected(carrier, http, number["number"], "machine_end_silence")
        async with call:
            await call.wait_for_agent_audio(timeout=30)
            await call.wait_until_ended(timeout=30)
        record = await _ended(http, placed["id"])
    assert record["answered_by"] == "machine" and record["ended_reason"] == "voicemail"
    assert record["stats"]["machine_detection"]["message_end"] == "silence"


async def test_a_verdict_another_process_recorded_reaches_the_call_loop(
    carrier: Carrier,
) -> None:
    tenant = carrier.api.tenant(max_concurrent_calls=100)
    number = _number(carrier.api.client(tenant.key), SCREEN)
    async with carrier.api.aclient(tenant.key) as http, asyncio.timeout(90):
        placed, call = await _connected(carrier, http, number["number"])
        async with call:
            await asyncio.sleep(0.5)
            assert call.greeting_latency is None
            # What the process that took Twilio's callback writes; this one polls for it.
            # The write runs on the server's loop, where its database engine lives.
            await carrier.api.arun(_record_verdict(carrier, placed["call_sid"], "human"))
            await call.wait_for_agent_audio(timeout=30)
            await call.wait_until_agent_done(timeout=30)
            hangup = await http.post(f"/v1/calls/{placed['id']}/hangup")
            assert hangup.status_code == 200, hangup.text
        record = await _ended(http, placed["id"])
    assert record["answered_by"] == "human"
    assert record["transcript"][0]["text"] == demo_agent_body()["greeting"]


async def _record_verdict(carrier: Carrier, call_sid: str, answered_by: str) -> None:
    async with carrier.api.app.state.database.writing() as session:
        row = await call_by_sid(session, call_sid)
        assert row is not None
        row.answered_by = answered_by
