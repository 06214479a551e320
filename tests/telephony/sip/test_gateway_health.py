"""Keep-alive OPTIONS to trunk gateways: a gateway that answers is up, a silent one is down
(exported as ``aybiza_sip_gateway_up``) and tried after the live ones. Also REGISTER, and the
end of a call whose far end stopped sending RTP."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from collections.abc import Iterator

import httpx
import pytest
from tests.e2e.server_process import RunningServer, free_port, running_server
from tests.telephony.sip.raw_peer import (
    RawMessage,
    SipPeer,
    UdpPeer,
    parse_raw,
    rtp_packet,
    sdp_offer,
    sdp_port,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    port = free_port()
    first = 30000 + (port % 300) * 100 + 50
    env = {
        "AYBIZA_SIP_LISTEN": f"udp:127.0.0.1:{port}",
        "AYBIZA_RTP_PORTS": f"{first}-{first + 49}",
        "AYBIZA_SIP_OPTIONS_INTERVAL_S": "0.5",
        "AYBIZA_RTP_TIMEOUT_S": "2",
        "AYBIZA_SIP_FAILOVER_S": "0.5",
        "AYBIZA_OUTBOUND_ALLOW_CIDRS": "127.0.0.0/8",
    }
    with running_server(tmp_path_factory.mktemp("sip-health"), env) as running:
        yield running


async def test_a_silent_gateway_is_marked_down_and_tried_last(server: RunningServer) -> None:
    dead, alive = await UdpPeer.open(), await UdpPeer.open()
    dead.close()  # nothing listens there any more: OPTIONS goes unanswered
    api = httpx.AsyncClient(
        base_url=server.base_url,
        headers={"Authorization": f"Bearer {server.api_key}"},
        timeout=10,
    )
    agents = (await api.get("/v1/agents")).json()["data"]
    number = "+1555" + "".join(secrets.choice("0123456789") for _ in range(7))
    sip = {"gateways": [f"127.0.0.1:{dead.port}", f"127.0.0.1:{alive.port}"]}
    body = {"number": number, "type": "sip_trunk", "agent_id": agents[0]["id"], "sip": sip}
    assert (await api.post("/v1/phone-numbers", json=body)).status_code == 201
    options = parse_raw((await alive.receive(wait_s=10))[0])
    assert options.method == "OPTIONS"
    assert options.first_line.startswith(f"OPTIONS sip:127.0.0.1:{alive.port}")
    peer = SipPeer(alive, 0)
    peer.server = int((options.header("via") or "").split(";")[0].rsplit(":", 1)[1])
    peer.respond(options, 200, "OK")
    metrics = ""
    for _ in range(50):
        metrics = (await api.get("/metrics")).text
        if f'aybiza_sip_gateway_up{{gateway="127.0.0.1:{dead.port}"}} 0.0' in metrics:
            break
        await asyncio.sleep(0.2)
    assert f'aybiza_sip_gateway_up{{gateway="127.0.0.1:{dead.port}"}} 0.0' in metrics
    placing = asyncio.create_task(
        api.post("/v1/calls", json={"from": number, "to": "+14155550123"})
    )
    while True:  # keep-alives keep coming; the INVITE goes to the live gateway first
        message = parse_raw((await alive.receive(wait_s=10))[0])
        if message.method == "OPTIONS":
            peer.respond(message, 200, "OK")
            continue
        break
    assert message.method == "INVITE"
    peer.respond(message, 486, "Busy Here")
    placed = await placing
    assert placed.status_code == 502, placed.text
    assert "486" in placed.json()["error"]["message"]
    alive.close()
    await api.aclose()


async def test_a_trunk_that_needs_it_registers_and_answers_the_registrars_challenge(
    server: RunningServer,
) -> None:
    registrar = await UdpPeer.open()
    api = httpx.AsyncClient(
        base_url=server.base_url,
        headers={"Authorization": f"Bearer {server.api_key}"},
        timeout=10,
    )
    agents = (await api.get("/v1/agents")).json()["data"]
    number = "+1555" + "".join(secrets.choice("0123456789") for _ in range(7))
    sip = {
        "gateways": [f"127.0.0.1:{registrar.port}"],
        "register": True,
        "auth": {"username": "acct42", "password": "reg-pass"},
    }
    body = {"number": number, "type": "sip_trunk", "agent_id": agents[0]["id"], "sip": sip}
    created = await api.post("/v1/phone-numbers", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["sip"]["register"] is True
    peer = SipPeer(registrar, 0)
    authorized = None
    while authorized is None:
        message = parse_raw((await registrar.receive(wait_s=15))[0])
        peer.server = int((message.header("via") or "").split(";")[0].rsplit(":", 1)[1])
        if message.method == "OPTIONS":
            peer.respond(message, 200, "OK")
        elif message.method == "REGISTER" and message.header("authorization") is None:
            assert message.first_line.startswith(f"REGISTER sip:127.0.0.1:{registrar.port}")
            assert (message.header("to") or "").startswith("<sip:acct42@127.0.0.1")
            assert message.header("expires") == "3600"
            challenge = 'Digest realm="carrier", nonce="n0nce42", algorithm=MD5'
            _respond_with(peer, message, 401, "Unauthorized", f"WWW-Authenticate: {challenge}")
        elif message.method == "REGISTER":
            authorized = message
    credentials = authorized.header("authorization") or ""
    fields = dict(
        part.strip().split("=", 1) for part in credentials.removeprefix("Digest ").split(",")
    )
    uri = fields["uri"].strip('"')

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    expected = md5(f"{md5('acct42:carrier:reg-pass')}:n0nce42:{md5(f'REGISTER:{uri}')}")
    assert fields["response"].strip('"') == expected
    contact = authorized.header("contact") or ""
    _respond_with(peer, authorized, 200, "OK", f"Contact: {contact};expires=60")
    trunk = f"acct42@127.0.0.1:{registrar.port}"
    metric = f'aybiza_sip_registered{{trunk="{trunk}"}} 1.0'
    for _ in range(50):
        if metric in (await api.get("/metrics")).text:
            break
        await asyncio.sleep(0.2)
    assert metric in (await api.get("/metrics")).text
    registrar.close()
    await api.aclose()


def _respond_with(peer: SipPeer, request: RawMessage, status: int, reason: str, extra: str) -> None:
    lines = [f"SIP/2.0 {status} {reason}"]
    lines += [f"Via: {value}" for value in request.all("via")]
    for name in ("from", "to", "call-id", "cseq"):
        lines.append(f"{name.title()}: {request.header(name)}")
    lines += [extra, "Content-Length: 0"]
    peer.udp.send("\r\n".join(lines) + "\r\n\r\n", peer.server)


def server_sip_port(server: RunningServer) -> int:
    """The SIP port the server reports listening on."""
    match = re.search(r"listener=udp:127\.0\.0\.1:(\d+)", server.log_path.read_text())
    assert match is not None, "the server did not log its SIP listener"
    return int(match.group(1))


async def test_a_caller_whose_rtp_stops_without_a_bye_is_hung_up(server: RunningServer) -> None:
    sip_port = server_sip_port(server)
    peer = await SipPeer.open(sip_port)
    media = await UdpPeer.open()
    uri = f"sip:+15005550006@127.0.0.1:{sip_port}"
    peer.request("INVITE", uri, to=uri, body=sdp_offer(media.port))
    ok = await peer.final_response()
    assert ok.status == 200, ok.first_line
    peer.request("ACK", uri, to=uri, to_tag=peer.remote_tag, cseq=1)
    for sequence in range(1, 6):
        media.send(rtp_packet(sequence, 160 * sequence, b"\xff" * 160), sdp_port(ok.body))
    # Then nothing, as from a phone that lost its network: the server ends the call.
    while True:
        message = await peer.next_message(wait_s=30)
        if message.method == "BYE":
            peer.respond(message, 200, "OK")
            break
    async with httpx.AsyncClient(
        base_url=server.base_url, headers={"Authorization": f"Bearer {server.api_key}"}
    ) as api:
        for _ in range(100):
            record = (await api.get(f"/v1/calls/{peer.call_id}")).json()
            if record.get("ended_at"):
                break
            await asyncio.sleep(0.1)
    assert record["ended_reason"] == "stream-failed", record
    assert record["stats"]["carrier_response"] == "no RTP from the far end for 2 s"
    peer.close()
    media.close()
