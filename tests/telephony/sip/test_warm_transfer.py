"""A warm transfer over SIP: the agent (Bedrock, faked) transfers with a summary; AYBIZA calls
the target, speaks the summary to it, then REFERs the caller with Replaces naming that
consultation call. Caller and target are hand-written SIP peers; loopback only."""

from __future__ import annotations

import asyncio
import math
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.e2e.server_process import RunningServer, free_port, running_server
from tests.fakes.bedrock import FakeBedrock
from tests.fakes.deepgram import FAKE_API_KEY, FakeDeepgram
from tests.fakes.llm_server import Reply, ToolUse
from tests.telephony.sip.raw_peer import (
    SipPeer,
    UdpPeer,
    parse_raw,
    rtp_packet,
    sdp_offer,
    sdp_port,
)

from aybiza.agents.demo import DEMO_AGENT
from aybiza.audio.codec import pcm16_to_ulaw

NUMBER = "+15550107373"
# The demo agent is a flow that transfers to a fixed number; this one lets the model decide.
TRANSFER_AGENT = {
    **{key: value for key, value in DEMO_AGENT.items() if key != "flow"},
    "name": "Warm transfer agent",
    "automation": {**DEMO_AGENT["automation"], "tools": ["transfer_call"]},
}


@dataclass
class Stack:
    server: RunningServer
    sip_port: int
    target: UdpPeer


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    target = await UdpPeer.open()
    tool = ToolUse(
        "transfer_call",
        {"to": f"sip:person@127.0.0.1:{target.port}", "summary": "The caller wants to book."},
    )
    deepgram = FakeDeepgram(transcripts=["I want to speak to a person"])
    bedrock = FakeBedrock(default=Reply(text="Connecting you now.", tool=tool))
    port = free_port()
    first = 30000 + (port % 300) * 100 + 75
    async with deepgram, bedrock:
        env = {
            "DEEPGRAM_API_KEY": FAKE_API_KEY,
            "AYBIZA_DEEPGRAM_URL": deepgram.url,
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "AKIAFAKEFAKEFAKE",
            "AWS_SECRET_ACCESS_KEY": "fake-secret",
            "AYBIZA_BEDROCK_ENDPOINT_URL": bedrock.url,
            "AYBIZA_SIP_LISTEN": f"udp:127.0.0.1:{port}",
            "AYBIZA_RTP_PORTS": f"{first}-{first + 24}",
            "AYBIZA_OUTBOUND_ALLOW_CIDRS": "127.0.0.0/8",
        }
        manager = running_server(tmp_path, env)
        server = await asyncio.to_thread(manager.__enter__)
        try:
            await _route_number_to_transfer_agent(server)
            yield Stack(server, port, target)
        finally:
            await asyncio.to_thread(manager.__exit__, None, None, None)
            target.close()


async def _route_number_to_transfer_agent(server: RunningServer) -> None:
    headers = {"Authorization": f"Bearer {server.api_key}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as http:
        agent = await http.post("/v1/agents", json=TRANSFER_AGENT)
        assert agent.status_code == 201, agent.text
        number = await http.post(
            "/v1/phone-numbers",
            json={
                "number": NUMBER,
                "type": "sip_trunk",
                "agent_id": agent.json()["id"],
                "sip": {"gateways": ["127.0.0.1:5999"], "allowed_cidrs": ["127.0.0.0/8"]},
            },
        )
        assert number.status_code == 201, number.text


def _tone(ms: int) -> bytes:
    samples = [int(9000 * math.sin(2 * math.pi * 440 * n / 8000)) for n in range(8 * ms)]
    return pcm16_to_ulaw(b"".join(s.to_bytes(2, "little", signed=True) for s in samples))


async def _speak(media: UdpPeer, port: int, audio: bytes, start_seq: int) -> int:
    """Send ``audio`` as 20 ms RTP packets at real-time pace; returns the next sequence."""
    sequence = start_seq
    for offset in range(0, len(audio), 160):
        media.send(rtp_packet(sequence, sequence * 160, audio[offset : offset + 160]), port)
        sequence += 1
        await asyncio.sleep(0.02)
    return sequence


async def _greeting_heard(media: UdpPeer) -> None:
    """Wait until the agent's greeting has played out (voiced RTP, then 600 ms without any), so
    the caller speaks after it, as a person does, however long the synthesized greeting is."""
    loop = asyncio.get_running_loop()
    heard = False
    quiet_since = loop.time()
    deadline = loop.time() + 30
    while not heard or loop.time() - quiet_since < 0.6:
        assert loop.time() < deadline, "the greeting did not play out within 30 s"
        try:
            data, _ = await media.receive(wait_s=0.2)
        except TimeoutError:
            continue
        if any(b not in (0xFF, 0x7F) for b in data[12:]):
            heard = True
            quiet_since = loop.time()


async def _target_side(target: UdpPeer) -> dict[str, object]:
    """Answer the consultation INVITE, count the summary's audio, then hang up as a phone does
    once the transferred caller has replaced the consultation."""
    invite = parse_raw((await target.receive(wait_s=30))[0])
    assert invite.method == "INVITE", invite.first_line
    server_port = int((invite.header("via") or "").split(";")[0].rsplit(":", 1)[1])
    media = await UdpPeer.open()
    body = sdp_offer(media.port)
    ok = (
        "SIP/2.0 200 OK\r\n"
        + "".join(f"Via: {v}\r\n" for v in invite.all("via"))
        + f"From: {invite.header('from')}\r\nTo: {invite.header('to')};tag=person1\r\n"
        f"Call-ID: {invite.header('call-id')}\r\nCSeq: {invite.header('cseq')}\r\n"
        f"Contact: <sip:person@127.0.0.1:{target.port}>\r\nContent-Type: application/sdp\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    )
    target.send(ok, server_port)
    ack = parse_raw((await target.receive(wait_s=10))[0])
    assert ack.method == "ACK"
    voiced = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 4
    while loop.time() < deadline:
        try:
            data, _ = await media.receive(wait_s=0.5)
        except TimeoutError:
            continue
        voiced += any(b not in (0xFF, 0x7F) for b in data[12:])
    return {"call_id": invite.header("call-id"), "voiced": voiced, "port": server_port}


async def test_a_warm_transfer_consults_the_target_then_refers_with_replaces(
    stack: Stack,
) -> None:
    caller = await SipPeer.open(stack.sip_port)
    media = await UdpPeer.open()
    uri = f"sip:{NUMBER}@127.0.0.1:{stack.sip_port}"
    caller.request("INVITE", uri, to=uri, body=sdp_offer(media.port))
    ok = await caller.final_response()
    assert ok.status == 200, ok.first_line
    caller.request("ACK", uri, to=uri, to_tag=caller.remote_tag, cseq=1)
    rtp_port = sdp_port(ok.body)
    target_task = asyncio.create_task(_target_side(stack.target))
    await _greeting_heard(media)
    sequence = await _speak(media, rtp_port, b"\xff" * 160 * 10, 1)
    sequence = await _speak(media, rtp_port, _tone(800), sequence)
    await _speak(media, rtp_port, b"\xff" * 160 * 75, sequence)
    refer = await caller.next_request(wait_s=30)
    assert refer.method == "REFER", refer.first_line
    consulted = await target_task
    assert int(consulted["voiced"]) > 10, "the target heard the summary"  # type: ignore[call-overload]
    refer_to = urllib.parse.unquote(refer.header("refer-to") or "")
    assert f"Replaces={consulted['call_id']};to-tag=person1;from-tag=" in refer_to, refer_to
    assert refer_to.startswith(f"<sip:person@127.0.0.1:{stack.target.port}")
    caller.respond(refer, 202, "Accepted")
    notify = (
        f"NOTIFY sip:aybiza@127.0.0.1:{stack.sip_port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{caller.port};branch=z9hG4bKnotify1\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:+14155550100@127.0.0.1>;tag={caller.tag}\r\n"
        f"To: <{uri}>;tag={caller.remote_tag}\r\nCall-ID: {caller.call_id}\r\nCSeq: 3 NOTIFY\r\n"
        "Event: refer\r\nSubscription-State: terminated;reason=noresource\r\n"
        "Content-Type: message/sipfrag\r\nContent-Length: 16\r\n\r\nSIP/2.0 200 OK\r\n"
    )
    caller.udp.send(notify, stack.sip_port)
    # Replaced: the target hangs up the consultation.
    bye = (
        f"BYE sip:aybiza@127.0.0.1:{consulted['port']} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{stack.target.port};branch=z9hG4bKbye1\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:person@127.0.0.1:{stack.target.port}>;tag=person1\r\n"
        f"To: <sip:aybiza@127.0.0.1>\r\nCall-ID: {consulted['call_id']}\r\nCSeq: 1 BYE\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    stack.target.send(bye, int(consulted["port"]))  # type: ignore[call-overload]
    while True:
        message = await caller.next_message(wait_s=15)
        if message.method == "BYE":
            caller.respond(message, 200, "OK")
            break
    async with httpx.AsyncClient(
        base_url=stack.server.base_url,
        headers={"Authorization": f"Bearer {stack.server.api_key}"},
    ) as api:
        for _ in range(50):
            record = (await api.get(f"/v1/calls/{caller.call_id}")).json()
            if record.get("ended_at"):
                break
            await asyncio.sleep(0.1)
    assert record["ended_reason"] == "transferred", record
    assert record["transfer_to"] == f"sip:person@127.0.0.1:{stack.target.port}"
    caller.close()
    media.close()
