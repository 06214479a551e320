"""Answering-machine detection end to end: ``POST /v1/calls`` from a SIP trunk number whose
agent screens for machines (``voicemail.detection: local``). A hand-written gateway answers
the INVITE and plays the callee over RTP, in real time, from 127.0.0.1: a voicemail greeting
then a beep, or a person saying "Hello?". What the server sends back is recorded at the
callee with its arrival time, and the call record is read through the API."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from tests.e2e.server_process import RunningServer, free_port, running_server
from tests.pipeline.callee_audio import frames, human_greeting, machine_greeting, silence
from tests.telephony.sip.raw_peer import (
    RawMessage,
    UdpPeer,
    parse_raw,
    rtp_packet,
    sdp_offer,
    sdp_port,
)

CALLEE = "+14155550123"
MESSAGE = (
    "Hello, this is Northwind Dental calling to confirm your appointment on Friday. "
    "Please call us back. Goodbye."
)
GREETING = "Hello, this is Northwind Dental calling about your appointment."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    port = free_port()
    first = 30000 + (port % 300) * 100
    env = {
        "AYBIZA_SIP_LISTEN": f"udp:127.0.0.1:{port}",
        "AYBIZA_RTP_PORTS": f"{first}-{first + 99}",
        "AYBIZA_OUTBOUND_ALLOW_CIDRS": "127.0.0.0/8",
    }
    with running_server(tmp_path_factory.mktemp("voicemail"), env) as running:
        yield running


@pytest.fixture
async def api(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {server.api_key}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=10) as client:
        yield client


@dataclass
class Callee:
    """The far end: the gateway's SIP socket and the callee's RTP socket."""

    gateway: UdpPeer
    media: UdpPeer
    invite: RawMessage
    server_sip_port: int
    server_rtp_port: int
    # (ms after the callee started talking, whether the packet carried sound)
    heard: list[tuple[float, bool]] = field(default_factory=list)


async def screening_number(api: httpx.AsyncClient, gateway: UdpPeer) -> str:
    """A trunk number whose agent leaves ``MESSAGE`` on machines."""
    demo = (await api.get("/v1/agents")).json()["data"][0]
    config = (await api.get(f"/v1/agents/{demo['id']}")).json()["config"]
    config |= {
        "name": f"Reminders {secrets.token_hex(3)}",
        "greeting": GREETING,
        "voicemail": {"detection": "local", "action": "leave_message", "message": MESSAGE},
    }
    created = await api.post("/v1/agents", json=config)
    assert created.status_code == 201, created.text
    number = "+1555" + "".join(secrets.choice("0123456789") for _ in range(7))
    body = {
        "number": number,
        "type": "sip_trunk",
        "agent_id": created.json()["id"],
        "sip": {"gateways": [f"127.0.0.1:{gateway.port}"]},
    }
    added = await api.post("/v1/phone-numbers", json=body)
    assert added.status_code == 201, added.text
    return number


async def answered_call(api: httpx.AsyncClient) -> tuple[str, Callee]:
    gateway, media = await UdpPeer.open(), await UdpPeer.open()
    number = await screening_number(api, gateway)
    placing = asyncio.create_task(api.post("/v1/calls", json={"from": number, "to": CALLEE}))
    data, source = await gateway.receive()
    invite = parse_raw(data)
    assert invite.method == "INVITE", invite.first_line
    gateway.send(_response(invite, 180, "Ringing", gateway.port), source[1])
    placed = await placing
    assert placed.status_code in (200, 201), placed.text
    gateway.send(_response(invite, 200, "OK", gateway.port, sdp_offer(media.port)), source[1])
    ack = parse_raw((await gateway.receive())[0])
    assert ack.method == "ACK"
    callee = Callee(gateway, media, invite, source[1], sdp_port(invite.body))
    return placed.json()["id"], callee


async def play_and_listen(callee: Callee, audio: bytes, *, until_bye_s: float) -> bool:
    """Send ``audio`` (then silence) in real time and record what arrives; True once the
    server hung up with BYE (answered 200)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    listener = asyncio.create_task(_listen(callee, started))
    try:
        sent = frames(audio)
        for index in range(int(until_bye_s * 50)):
            frame = sent[index] if index < len(sent) else silence(20)
            callee.media.send(rtp_packet(index, index * 160, frame), callee.server_rtp_port)
            # Paced by the clock, not by sleeps alone, so a loaded machine does not stretch it.
            await asyncio.sleep(max(0.0, started + (index + 1) * 0.02 - loop.time()))
            bye = _bye(callee)
            if bye is not None:
                callee.gateway.send(_answer(bye, 200, "OK"), callee.server_sip_port)
                return True
        return False
    finally:
        listener.cancel()


async def record_when_ended(api: httpx.AsyncClient, call_id: str) -> dict[str, Any]:
    for _ in range(100):
        record: dict[str, Any] = (await api.get(f"/v1/calls/{call_id}")).json()
        if record.get("ended_at"):
            return record
        await asyncio.sleep(0.1)
    raise AssertionError(f"call {call_id} did not end: {record}")


async def test_a_machine_gets_the_message_after_its_beep_and_the_call_ends(
    api: httpx.AsyncClient,
) -> None:
    call_id, callee = await answered_call(api)
    greeting = await asyncio.to_thread(machine_greeting)
    beep_end_ms = len(frames(greeting)) * 20
    hung_up = await play_and_listen(callee, greeting, until_bye_s=30)
    assert hung_up, "the server ends the call with BYE once the message is spoken"
    voiced = [at for at, sound in callee.heard if sound]
    # Nothing was said over the greeting; the message came once the beep had ended.
    assert voiced, "the callee heard the message"
    assert min(voiced) >= beep_end_ms - 100, (min(voiced), beep_end_ms)
    # espeak reads the message for several seconds: it was spoken whole.
    assert len(voiced) * 20 >= 3000
    record = await record_when_ended(api, call_id)
    assert record["answered_by"] == "machine"
    assert record["ended_reason"] == "voicemail"
    assert record["stats"]["machine_detection"]["message_end"] == "beep"
    agent_lines = [line["text"] for line in record["transcript"] if line["speaker"] == "agent"]
    assert agent_lines == [MESSAGE]
    for peer in (callee.gateway, callee.media):
        peer.close()


async def test_a_person_hears_the_greeting_after_saying_hello(api: httpx.AsyncClient) -> None:
    call_id, callee = await answered_call(api)
    hello = await asyncio.to_thread(human_greeting)
    hung_up = await play_and_listen(callee, hello, until_bye_s=len(hello) / 8000 + 2)
    assert not hung_up
    voiced = [at for at, sound in callee.heard if sound]
    # The greeting was held while the callee said hello, and followed it within the window.
    assert voiced and 1000 <= min(voiced) <= 4000, voiced[:3]
    record = (await api.get(f"/v1/calls/{call_id}")).json()
    assert record["ended_at"] is None
    hangup = await api.post(f"/v1/calls/{call_id}/hangup")
    assert hangup.status_code == 200, hangup.text
    record = await record_when_ended(api, call_id)
    assert record["answered_by"] == "human"
    assert record["stats"]["machine_detection"]["by"] == "local"
    assert any(line["text"] == GREETING for line in record["transcript"])
    for peer in (callee.gateway, callee.media):
        peer.close()


async def _listen(callee: Callee, started: float) -> None:
    loop = asyncio.get_running_loop()
    while True:
        data, _ = await callee.media.receive(60)
        payload = data[12:]
        sound = any(abs(byte - 0xFF) > 8 and byte not in (0x7F, 0xFF) for byte in payload)
        callee.heard.append(((loop.time() - started) * 1000, sound))


def _bye(callee: Callee) -> RawMessage | None:
    while not callee.gateway.inbox.empty():
        message = parse_raw(callee.gateway.inbox.get_nowait()[0])
        if message.method == "BYE":
            return message
    return None


def _response(invite: RawMessage, status: int, reason: str, port: int, body: str = "") -> str:
    headers = "".join(f"Via: {v}\r\n" for v in invite.all("via"))
    headers += f"From: {invite.header('from')}\r\nTo: {invite.header('to')};tag=gw1\r\n"
    headers += f"Call-ID: {invite.header('call-id')}\r\nCSeq: {invite.header('cseq')}\r\n"
    headers += f"Contact: <sip:gw@127.0.0.1:{port}>\r\n"
    if body:
        headers += "Content-Type: application/sdp\r\n"
    return f"SIP/2.0 {status} {reason}\r\n{headers}Content-Length: {len(body)}\r\n\r\n{body}"


def _answer(request: RawMessage, status: int, reason: str) -> str:
    headers = "".join(f"Via: {v}\r\n" for v in request.all("via"))
    for name in ("from", "to", "call-id", "cseq"):
        headers += f"{name.title()}: {request.header(name)}\r\n"
    return f"SIP/2.0 {status} {reason}\r\n{headers}Content-Length: 0\r\n\r\n"
