"""SIPp as the called trunk (UAS) for outbound calls: ``POST /v1/calls`` from a ``sip_trunk``
number sends its INVITE through the trunk's gateways in order. SIPp plays the gateways: one
out of service (503), one that answers, one that challenges the dialler, one that rings until
the call is hung up; a socket that never answers plays a dead gateway. The call records are
checked through the API."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.telephony.sip.sip_server import Record, SipServer, sip_server
from tests.telephony.sip.sipp_peer import sipp_binary, uas

CALLEE = "+15557654321"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SipServer]:
    sipp_binary()  # skip (or fail on CI) before starting a server for nothing
    with sip_server(tmp_path_factory.mktemp("sipp-trunk")) as running:
        yield running


async def dial(server: SipServer, gateways: list[str], **trunk: object) -> Record:
    """Place a call to ``CALLEE`` from a new trunk number with ``gateways``."""
    number = await server.trunk_number(await server.demo_agent_id(), gateways=gateways, **trunk)
    return await server.created("/v1/calls", {"to": CALLEE, "from": number})


async def test_a_503_gateway_passes_the_call_to_the_next_which_connects_it(
    server: SipServer, tmp_path: Path
) -> None:
    out_of_service = await uas(tmp_path, "uas_refuses_503.xml").listening()
    answering = await uas(tmp_path, "uas_answers.xml", "-d", "2000").listening()
    placed = await dial(server, [out_of_service.address, answering.address])
    refused, connected = await out_of_service.finished(), await answering.finished()
    assert refused.returncode == 0, refused.report
    assert connected.returncode == 0, connected.report
    assert refused.exchange() == ["INVITE", "503", "ACK"]
    assert connected.exchange() == ["INVITE", "100", "180", "200", "ACK", "BYE", "200"]
    assert "INVITE sip:" + CALLEE in connected.first_lines()[0]
    record = await server.ended(placed["id"])
    assert (record["carrier"], record["direction"], record["status"]) == (
        "sip", "outbound-api", "completed"
    )  # fmt: skip
    assert record["to"] == CALLEE
    assert record["ended_reason"] == "caller-hangup"
    assert record["started_at"] is not None and record["transcript"][0]["speaker"] == "agent"


async def test_a_silent_gateway_is_passed_over_after_the_failover_time(
    server: SipServer, tmp_path: Path
) -> None:
    dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dead.bind(("127.0.0.1", 0))
    try:
        answering = await uas(tmp_path, "uas_answers.xml", "-d", "1000").listening()
        placed = await dial(server, [f"127.0.0.1:{dead.getsockname()[1]}", answering.address])
        connected = await answering.finished()
        dead.setblocking(False)
        invite = dead.recv(65535)
    finally:
        dead.close()
    assert invite.startswith(b"INVITE sip:" + CALLEE.encode())
    assert connected.returncode == 0, connected.report
    record = await server.ended(placed["id"])
    assert (record["status"], record["ended_reason"]) == ("completed", "caller-hangup")


async def test_the_dialler_answers_the_gateways_challenge_and_hangs_up_with_bye(
    server: SipServer, tmp_path: Path
) -> None:
    gateway = await uas(tmp_path, "uas_challenges.xml").listening()
    placed = await dial(server, [gateway.address], auth={"username": "trunk", "password": "s3cret"})
    await server.status_reaches(placed["id"], "in-progress")
    hangup = await server.api("POST", f"/v1/calls/{placed['id']}/hangup")
    assert hangup.status_code in (200, 202), hangup.text
    run = await gateway.finished()
    assert run.returncode == 0, run.report  # verifyauth took the answer
    assert run.exchange() == ["INVITE", "401", "ACK", "INVITE", "180", "200", "ACK", "BYE", "200"]
    assert "Authorization: Digest" in run.messages
    record = await server.ended(placed["id"])
    assert (record["status"], record["ended_reason"]) == ("completed", "api-hangup")


async def test_hanging_up_a_ringing_call_cancels_its_invite(
    server: SipServer, tmp_path: Path
) -> None:
    callee = await uas(tmp_path, "uas_rings.xml").listening()
    placed = await dial(server, [callee.address])
    await server.status_reaches(placed["id"], "ringing")
    hangup = await server.api("POST", f"/v1/calls/{placed['id']}/hangup")
    assert hangup.status_code in (200, 202), hangup.text
    run = await callee.finished()
    assert run.returncode == 0, run.report
    assert run.exchange() == ["INVITE", "100", "180", "CANCEL", "200", "487", "ACK"]
    record = await server.ended(placed["id"])
    assert record["ended_reason"] == "api-hangup"
    assert record["started_at"] is None  # the agent never came on
