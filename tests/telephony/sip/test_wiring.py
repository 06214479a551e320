"""The SIP edge of a running server, driven by a hand-written SIP peer (``raw_peer``): inbound
calls to the demo agent, CANCEL, refusals, digest authentication, a transfer by REFER, and an
outbound call that fails over to a second gateway. Loopback only."""

from __future__ import annotations

import asyncio
import hashlib
import io
import secrets
import wave
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from tests.api.helpers import demo_agent_body
from tests.e2e.server_process import RunningServer, free_port, running_server
from tests.telephony.sip.raw_peer import (
    RawMessage,
    SipPeer,
    UdpPeer,
    dtmf_packets,
    parse_raw,
    rtp_packet,
    sdp_offer,
    sdp_port,
)

DEMO = "+15005550006"
SILENCE = b"\xff" * 160


@pytest.fixture(scope="module")
def sip_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, int]]:
    port = free_port()
    first = 30000 + (port % 300) * 100
    env = {
        "AYBIZA_SIP_LISTEN": f"udp:127.0.0.1:{port}",
        "AYBIZA_RTP_PORTS": f"{first}-{first + 99}",
        "AYBIZA_SIP_FAILOVER_S": "0.5",
        "AYBIZA_OUTBOUND_ALLOW_CIDRS": "127.0.0.0/8",
    }
    with running_server(tmp_path_factory.mktemp("sip"), env) as server:
        yield server, port


@pytest.fixture
async def peer(sip_server: tuple[RunningServer, int]) -> AsyncIterator[SipPeer]:
    sip = await SipPeer.open(sip_server[1])
    yield sip
    sip.close()


def _api(server: RunningServer) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server.base_url, headers={"Authorization": f"Bearer {server.api_key}"}, timeout=10
    )


async def _record(server: RunningServer, call_sid: str, *, ended: bool = True) -> dict[str, Any]:
    """The call's record, once it has ended (when ``ended``)."""
    for _ in range(100):
        async with _api(server) as api:
            response = await api.get(f"/v1/calls/{call_sid}")
        if response.status_code == 200 and (not ended or response.json()["ended_at"]):
            record: dict[str, Any] = response.json()
            return record
        await asyncio.sleep(0.1)
    raise AssertionError(f"no ended record for {call_sid}: {response.text}")


async def _answered_call(
    peer: SipPeer, media: UdpPeer, number: str = DEMO, extra: str = ""
) -> RawMessage:
    uri = f"sip:{number}@127.0.0.1:{peer.server}"
    peer.request("INVITE", uri, to=uri, body=sdp_offer(media.port), extra=extra)
    ok = await peer.final_response()
    assert ok.status == 200, ok.first_line
    peer.request("ACK", uri, to=uri, to_tag=peer.remote_tag, cseq=1)
    return ok


async def _heard(media: UdpPeer, seconds: float) -> tuple[int, int, tuple[str, int]]:
    """Packets received in ``seconds`` and how many carried sound (not μ-law silence)."""
    total, voiced, source = 0, 0, ("", 0)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        try:
            data, source = await media.receive(max(0.01, deadline - loop.time()))
        except TimeoutError:
            break
        total += 1
        payload = data[12:]
        voiced += any(abs(byte - 0xFF) > 8 and byte not in (0x7F, 0xFF) for byte in payload)
    return total, voiced, source


async def test_an_inbound_call_gets_the_greeting_over_rtp_and_ends_on_bye(
    sip_server: tuple[RunningServer, int], peer: SipPeer
) -> None:
    server, port = sip_server
    media = await UdpPeer.open()
    ok = await _answered_call(peer, media, extra="X-Account-Id: 4242\r\nX-Queue: sales\r\n")
    assert ok.header("content-type") == "application/sdp"
    assert "PCMU/8000" in ok.body.decode()
    assert (ok.header("contact") or "").startswith("<sip:")
    rtp_port = sdp_port(ok.body)
    for sequence in range(1, 11):  # symmetric RTP: the server latches to this socket
        media.send(rtp_packet(sequence, 160 * sequence, SILENCE, marker=sequence == 1), rtp_port)
    total, voiced, source = await _heard(media, 1.5)
    assert source[1] == rtp_port, "RTP comes from the port the SDP names"
    assert total >= 40 and voiced >= 10, (total, voiced)
    uri = f"sip:{DEMO}@127.0.0.1:{port}"
    peer.request("BYE", uri, to=uri, to_tag=peer.remote_tag)
    bye_ok = await peer.final_response()
    assert bye_ok.status == 200
    record = await _record(server, peer.call_id)
    assert record["carrier"] == "sip" and record["direction"] == "inbound"
    assert record["ended_reason"] == "caller-hangup"
    assert record["from"] == "+14155550100" and record["to"] == DEMO
    assert record["stats"]["carrier_response"] == "BYE"
    assert record["custom_parameters"] == {"X-Account-Id": "4242", "X-Queue": "sales"}
    assert record["stats"]["media"]["packets_in"] == 10
    assert record["stats"]["media"]["lost"] == 0
    media.close()


async def test_cancel_before_the_answer_gets_487_and_the_call_ends_canceled(
    sip_server: tuple[RunningServer, int], peer: SipPeer
) -> None:
    server, port = sip_server
    uri = f"sip:{DEMO}@127.0.0.1:{port}"
    branch = peer.request("INVITE", uri, to=uri, body=sdp_offer(40000))
    peer.request("CANCEL", uri, to=uri, branch=branch, cseq=1)
    statuses: dict[str, int] = {}
    while len(statuses) < 2:
        message = await peer.next_message()
        if message.status is not None and message.status >= 200:
            statuses[(message.header("cseq") or "").split()[1]] = message.status
            if message.status == 487:
                to = message.header("to") or ""
                peer.request("ACK", uri, to=uri, to_tag=to.split(";tag=")[1], cseq=1, branch=branch)
    assert statuses == {"CANCEL": 200, "INVITE": 487}
    async with _api(server) as api:
        response = await api.get(f"/v1/calls/{peer.call_id}")
    if response.status_code == 200:  # recorded when CANCEL came after the admission
        assert (await _record(server, peer.call_id))["ended_reason"] == "canceled"


@pytest.mark.parametrize(
    ("number", "offer", "extra", "status"),
    [
        ("+15559990000", "0 101", "", 404),  # nobody's number
        (DEMO, "18", "", 488),  # G.729 only
        (DEMO, "0", "Session-Expires: 60\r\nSupported: timer\r\n", 422),
    ],
)
async def test_refusals_carry_the_right_status(
    peer: SipPeer, number: str, offer: str, extra: str, status: int
) -> None:
    uri = f"sip:{number}@127.0.0.1:{peer.server}"
    peer.request("INVITE", uri, to=uri, body=sdp_offer(40000, codecs=offer), extra=extra)
    response = await peer.final_response()
    assert response.status == status, response.first_line
    if status == 422:
        assert response.header("min-se") == "90"


async def test_options_is_answered_with_what_the_edge_supports(peer: SipPeer) -> None:
    uri = f"sip:127.0.0.1:{peer.server}"
    peer.request("OPTIONS", uri, to=uri)
    response = await peer.final_response()
    assert response.status == 200
    allow = {m.strip() for m in (response.header("allow") or "").split(",")}
    assert {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REFER"} <= allow


async def test_a_bye_for_no_dialog_is_481(peer: SipPeer) -> None:
    uri = f"sip:{DEMO}@127.0.0.1:{peer.server}"
    peer.request("BYE", uri, to=uri, to_tag="nosuchtag")
    assert (await peer.final_response()).status == 481


def _digest(challenge: str, password: str, uri: str, count: int = 1) -> str:
    """RFC 8760 SHA-256 digest with qop=auth, computed from the challenge by hand."""
    params = dict(
        part.strip().split("=", 1) for part in challenge.removeprefix("Digest ").split(",")
    )
    realm, nonce = params["realm"].strip('"'), params["nonce"].strip('"')

    def h(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    cnonce, nc = secrets.token_hex(4), f"{count:08x}"
    ha1, ha2 = h(f"trunk-user:{realm}:{password}"), h(f"INVITE:{uri}")
    response = h(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
    return (
        f'Digest username="trunk-user", realm="{realm}", nonce="{nonce}", uri="{uri}", '
        f'response="{response}", algorithm=SHA-256, qop=auth, nc={nc}, cnonce="{cnonce}"'
    )


async def _trunk_number(server: RunningServer, sip: dict[str, Any]) -> str:
    number = "+1555" + "".join(secrets.choice("0123456789") for _ in range(7))
    async with _api(server) as api:
        agents = (await api.get("/v1/agents")).json()["data"]
        body = {"number": number, "type": "sip_trunk", "agent_id": agents[0]["id"], "sip": sip}
        created = await api.post("/v1/phone-numbers", json=body)
    assert created.status_code == 201, created.text
    return number


async def test_a_trunk_caller_outside_its_networks_must_answer_the_digest_challenge(
    sip_server: tuple[RunningServer, int], peer: SipPeer
) -> None:
    server, port = sip_server
    number = await _trunk_number(
        server,
        {
            "gateways": ["127.0.0.1:9"],
            "allowed_cidrs": ["192.0.2.0/24"],
            "auth": {"username": "trunk-user", "password": "s3cret-trunk"},
        },
    )
    uri = f"sip:{number}@127.0.0.1:{port}"
    media = await UdpPeer.open()
    peer.request("INVITE", uri, to=uri, body=sdp_offer(media.port))
    challenge = await peer.final_response()
    assert challenge.status == 401
    offered = challenge.all("www-authenticate")
    assert any("SHA-256" in c for c in offered) and any("MD5" in c for c in offered)
    peer.request("ACK", uri, to=uri, to_tag=peer.remote_tag, cseq=peer.cseq)
    sha256 = next(c for c in offered if "SHA-256" in c)
    wrong = _digest(sha256, "not-the-password", uri)
    peer.request(
        "INVITE", uri, to=uri, body=sdp_offer(media.port), extra=f"Authorization: {wrong}\r\n"
    )
    assert (await peer.final_response()).status == 403
    peer.request("ACK", uri, to=uri, to_tag=peer.remote_tag, cseq=peer.cseq)
    # The same nonce again: its count must go up (RFC 7616 §3.4; a replay is refused).
    right = _digest(sha256, "s3cret-trunk", uri, count=2)
    peer.request(
        "INVITE", uri, to=uri, body=sdp_offer(media.port), extra=f"Authorization: {right}\r\n"
    )
    ok = await peer.final_response()
    assert ok.status == 200, ok.first_line
    peer.request("ACK", uri, to=uri, to_tag=peer.remote_tag, cseq=peer.cseq)
    peer.request("BYE", uri, to=uri, to_tag=peer.remote_tag)
    assert (await peer.final_response()).status == 200
    record = await _record(server, peer.call_id)
    assert record["to"] == number and record["carrier"] == "sip"
    media.close()


async def test_pressing_zero_transfers_the_caller_with_refer(
    sip_server: tuple[RunningServer, int], peer: SipPeer
) -> None:
    server, _ = sip_server
    media = await UdpPeer.open()
    ok = await _answered_call(peer, media)
    rtp_port = sdp_port(ok.body)
    await asyncio.sleep(0.3)
    for packet in dtmf_packets(0, 100, 16000):  # digit 0: "speak to a person"
        media.send(packet, rtp_port)
        await asyncio.sleep(0.02)
    refer = await peer.next_request(wait_s=15)
    assert refer.method == "REFER", refer.first_line
    target = refer.header("refer-to") or ""
    assert target.startswith("<sip:+1") and "@127.0.0.1" in target, target
    peer.respond(refer, 202, "Accepted")
    uri = f"sip:{DEMO}@127.0.0.1:{peer.server}"
    extra = "Event: refer\r\nSubscription-State: terminated;reason=noresource\r\n"
    notify = (
        f"NOTIFY {uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{peer.port};branch=z9hG4bK{secrets.token_hex(6)}\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:+14155550100@127.0.0.1>;tag={peer.tag}\r\n"
        f"To: <{uri}>;tag={peer.remote_tag}\r\nCall-ID: {peer.call_id}\r\nCSeq: 3 NOTIFY\r\n"
        f"Contact: <sip:caller@127.0.0.1:{peer.port}>\r\n{extra}"
        "Content-Type: message/sipfrag\r\nContent-Length: 16\r\n\r\nSIP/2.0 200 OK\r\n"
    )
    peer.udp.send(notify, peer.server)
    seen = []
    while "BYE" not in seen:
        message = await peer.next_message(wait_s=10)
        seen.append(message.method or str(message.status))
        if message.method == "BYE":
            peer.respond(message, 200, "OK")
    assert "200" in seen, "the NOTIFY was answered"
    record = await _record(server, peer.call_id)
    assert record["ended_reason"] == "transferred", record
    media.close()


async def test_an_outbound_call_fails_over_past_a_silent_gateway(
    sip_server: tuple[RunningServer, int],
) -> None:
    server, _ = sip_server
    silent, gateway = await UdpPeer.open(), await UdpPeer.open()
    number = await _trunk_number(
        server,
        {"gateways": [f"127.0.0.1:{silent.port}", f"127.0.0.1:{gateway.port}"]},
    )
    api = _api(server)
    # The request returns once a gateway has taken the call (its first provisional response).
    placing = asyncio.create_task(
        api.post("/v1/calls", json={"from": number, "to": "+14155550123"})
    )
    first, _ = await silent.receive()
    assert parse_raw(first).method == "INVITE"
    data, source = await gateway.receive()
    invite = parse_raw(data)
    assert invite.method == "INVITE" and invite.first_line.startswith("INVITE sip:+14155550123@")
    assert invite.header("call-id") == parse_raw(first).header("call-id")
    answerer = SipPeer(gateway, source[1])
    answerer.respond(invite, 180, "Ringing")
    placed = await placing
    await api.aclose()
    assert placed.status_code in (200, 201), placed.text
    call = placed.json()
    media = await UdpPeer.open()
    ok = (
        "SIP/2.0 200 OK\r\n"
        + "".join(f"Via: {v}\r\n" for v in invite.all("via"))
        + f"From: {invite.header('from')}\r\nTo: {invite.header('to')};tag=gw1\r\n"
        f"Call-ID: {invite.header('call-id')}\r\nCSeq: {invite.header('cseq')}\r\n"
        f"Contact: <sip:gw@127.0.0.1:{gateway.port}>\r\nContent-Type: application/sdp\r\n"
    )
    body = sdp_offer(media.port)
    gateway.send(ok + f"Content-Length: {len(body)}\r\n\r\n{body}", source[1])
    ack = parse_raw((await gateway.receive())[0])
    assert ack.method == "ACK"
    total, _, _ = await _heard(media, 1.0)
    assert total >= 20
    bye = (
        f"BYE sip:aybiza@127.0.0.1:{source[1]} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{gateway.port};branch=z9hG4bK{secrets.token_hex(6)}\r\n"
        f"Max-Forwards: 70\r\nFrom: {invite.header('to')};tag=gw1\r\n"
        f"To: {invite.header('from')}\r\n"
        f"Call-ID: {invite.header('call-id')}\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n"
    )
    gateway.send(bye, source[1])
    bye_ok = parse_raw((await gateway.receive())[0])
    assert bye_ok.status == 200
    record = await _record(server, call["id"])
    assert record["direction"] == "outbound-api" and record["carrier"] == "sip"
    assert record["ended_reason"] == "caller-hangup"
    for socket in (silent, gateway, media):
        socket.close()


async def test_a_sip_call_of_a_recording_agent_is_stored_with_what_the_caller_heard(
    sip_server: tuple[RunningServer, int], peer: SipPeer
) -> None:
    server, port = sip_server
    async with _api(server) as api:
        agent = await api.post("/v1/agents", json=demo_agent_body(recording={"enabled": True}))
        assert agent.status_code == 201, agent.text
        number = "+1555" + "".join(secrets.choice("0123456789") for _ in range(7))
        created = await api.post(
            "/v1/phone-numbers",
            json={
                "number": number,
                "type": "sip_trunk",
                "agent_id": agent.json()["id"],
                "sip": {"gateways": ["127.0.0.1:9"], "allowed_cidrs": ["127.0.0.0/8"]},
            },
        )
        assert created.status_code == 201, created.text
    media = await UdpPeer.open()
    ok = await _answered_call(peer, media, number=number)
    rtp_port = sdp_port(ok.body)
    for sequence in range(1, 76):  # 1.5 s of the caller's (silent) side
        media.send(rtp_packet(sequence, 160 * sequence, SILENCE, marker=sequence == 1), rtp_port)
        await asyncio.sleep(0.02)
    uri = f"sip:{number}@127.0.0.1:{port}"
    peer.request("BYE", uri, to=uri, to_tag=peer.remote_tag)
    assert (await peer.final_response()).status == 200
    record = await _record(server, peer.call_id)
    for _ in range(100):
        if record["recording"]:
            break
        await asyncio.sleep(0.05)
        record = await _record(server, peer.call_id)
    assert record["carrier"] == "sip" and record["recording"]["channels"] == 2
    async with _api(server) as api:
        audio = await api.get(record["recording"]["url"])
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(audio.content)) as reader:
        assert (reader.getnchannels(), reader.getframerate()) == (2, 8000)
        frames = reader.readframes(reader.getnframes())
    samples = memoryview(frames).cast("h")
    left, right = samples[0::2], samples[1::2]
    assert max(abs(s) for s in left) < 100, "the caller was silent"
    assert max(abs(s) for s in right) > 1000, "the greeting the caller heard"
    media.close()
