"""SIPp as the caller (UAC) against ``aybiza serve``: an independent SIP implementation dials
the demo agent and tenant trunks over loopback, and the call records are checked through the
API. Scenarios are in ``sipp/`` (docs/sip.md lists what each proves).

The server's tenant may hold one call at a time, so the busy test can fill it with a single
call; every test therefore waits for its calls' records to end before the next one dials.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.telephony.sip.sip_server import GOODBYE_AGENT, Record, SipServer, new_e164, sip_server
from tests.telephony.sip.sipp_pcap import PCAP_DIR, read_udp_payloads, udp_payloads, write_rtp_pcap
from tests.telephony.sip.sipp_peer import SippRun, sipp_binary, uac

from aybiza.agents.demo import DEMO_PHONE_NUMBER
from aybiza.agents.speech import VoiceOptions
from aybiza.audio.codec import SILENCE_BYTE, silence
from aybiza.providers.tts.espeak import EspeakTts

FIRST = "i would like to book an appointment"
SECOND = "tomorrow morning"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SipServer]:
    sipp_binary()  # skip (or fail on CI) before starting a server for nothing
    data_dir = tmp_path_factory.mktemp("sipp-calls")
    with sip_server(data_dir, AYBIZA_DEFAULT_MAX_CONCURRENT_CALLS="1") as running:
        yield running


async def speak(*lines: str) -> list[bytes]:
    """``lines`` spoken by espeak-ng, as μ-law 8 kHz."""
    tts = EspeakTts()
    try:
        return [await tts.synthesize(line, VoiceOptions(model="en-us")) for line in lines]
    finally:
        await tts.aclose()


@pytest.fixture(scope="module")
def conversation_pcap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The caller's side of a conversation as RTP in a pcap: it speaks over the greeting
    (1 s in), waits for the answer, then gives a day and time."""
    first, second = asyncio.run(speak(FIRST, SECOND))
    path = tmp_path_factory.mktemp("speech") / "caller.pcap"
    write_rtp_pcap(path, silence(1000) + first + silence(3500) + second + silence(4000))
    return path


async def test_a_sipp_caller_talks_to_the_demo_agent_over_rtp_and_hangs_up(
    server: SipServer, conversation_pcap: Path, tmp_path: Path
) -> None:
    shutil.copy(conversation_pcap, tmp_path / "caller.pcap")
    played_s = len(read_udp_payloads(tmp_path / "caller.pcap")) * 0.02
    caller = uac(tmp_path, "uac_plays_pcap.xml", server.sip_target, DEMO_PHONE_NUMBER,
                 "-d", str(int(played_s * 1000) + 500))  # fmt: skip
    run = await caller.run()
    assert run.returncode == 0, run.report
    # Answered at once (no ringing: every moment before the greeting is the caller's).
    assert run.exchange() == ["INVITE", "100", "200", "ACK", "BYE", "200"]
    record = await server.ended((await server.record_by_sid(call_id_of(run)))["id"])
    assert (record["carrier"], record["direction"], record["status"]) == (
        "sip", "inbound", "completed"
    )  # fmt: skip
    assert (record["from"], record["to"]) == ("+15557654321", DEMO_PHONE_NUMBER)
    assert record["ended_reason"] == "caller-hangup"
    assert record["stats"]["carrier_response"] == "BYE"
    turns = record["turns"]
    assert [turn["user_text"] for turn in turns] == [FIRST, SECOND], record["transcript"]
    assert "day and time" in turns[0]["agent_text"]
    assert "no booking system" in turns[1]["agent_text"]  # the demo tenant has no booking tool
    assert record["stats"]["barge_ins"] >= 1  # the caller spoke over the greeting
    greeting = record["transcript"][0]
    assert greeting["speaker"] == "agent" and greeting["text"].startswith("Hello")


async def test_the_greeting_reaches_the_callers_rtp_port_and_stops_while_on_hold(
    server: SipServer, tmp_path: Path
) -> None:
    # The caller's SDP names a socket of the test's: what arrives there is what a phone would
    # play. The scenario holds (a=sendonly) 1.5 s in, for 2 s, then resumes.
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind(("127.0.0.1", 0))
    rtp.setblocking(False)
    arrivals: list[tuple[float, bytes]] = []
    collecting = asyncio.create_task(collect(rtp, arrivals))
    try:
        caller = uac(tmp_path, "uac_hold.xml", server.sip_target, DEMO_PHONE_NUMBER,
                     "-key", "rtp_port", str(rtp.getsockname()[1]))  # fmt: skip
        run = await caller.run()
    finally:
        collecting.cancel()
        rtp.close()
    assert run.returncode == 0, run.report  # both 200s carried the right direction
    assert run.exchange() == ["INVITE", "100", "200", "ACK"] * 3 + ["BYE", "200"]
    await server.ended((await server.record_by_sid(call_id_of(run)))["id"])
    packets = [(at, data) for at, data in arrivals if data[1] & 0x7F == 0]
    assert len(packets) > 50, f"{len(arrivals)} datagrams"
    assert len({data[8:12] for _, data in packets}) == 1, "one SSRC"
    sequence = [struct.unpack_from("!H", data, 2)[0] for _, data in packets]
    assert all((b - a) % 65536 == 1 for a, b in itertools.pairwise(sequence))
    audible = [data for _, data in packets if data[12:].count(SILENCE_BYTE) < 120]
    assert len(audible) > 40, "the greeting is speech, not silence"
    gaps = [(b - a, i) for i, ((a, _), (b, _)) in enumerate(itertools.pairwise(packets))]
    longest, where = max(gaps)
    assert longest > 1.5, "nothing is sent while the caller holds"
    assert 0 < where < len(packets) - 20, "media flows before the hold and after the resume"


async def test_a_key_press_sent_as_an_rfc4733_event_reaches_the_agent(
    server: SipServer, tmp_path: Path
) -> None:
    udp_payloads("dtmf_2833_1.pcap")  # skips, naming the package, without sipp's pcaps
    shutil.copy(PCAP_DIR / "dtmf_2833_1.pcap", tmp_path / "caller.pcap")
    caller = uac(tmp_path, "uac_plays_pcap.xml", server.sip_target, DEMO_PHONE_NUMBER,
                 "-d", "3000")  # fmt: skip
    run = await caller.run()
    assert run.returncode == 0, run.report
    record = await server.ended((await server.record_by_sid(call_id_of(run)))["id"])
    assert record["turns"][0]["user_text"] == "DTMF 1", record["transcript"]
    assert "day and time" in record["turns"][0]["agent_text"]


@pytest.mark.parametrize("transport", ["u1", "t1"])
async def test_the_agent_hangs_up_and_the_caller_answers_its_bye(
    server: SipServer, tmp_path: Path, transport: str
) -> None:
    agent = await server.created("/v1/agents", GOODBYE_AGENT)
    number = await server.trunk_number(agent["id"], allowed_cidrs=["127.0.0.0/8"])
    udp_payloads("dtmf_2833_1.pcap")
    shutil.copy(PCAP_DIR / "dtmf_2833_1.pcap", tmp_path / "caller.pcap")
    run = await uac(tmp_path, "uac_agent_hangs_up.xml", server.sip_target, number,
                    "-t", transport).run()  # fmt: skip
    assert run.returncode == 0, run.report
    assert run.exchange() == ["INVITE", "100", "200", "ACK", "BYE", "200"]
    assert [line for line in run.first_lines() if line.startswith("BYE sip:sipp@127.0.0.1:")]
    record = await server.ended((await server.record_by_sid(call_id_of(run)))["id"])
    assert (record["status"], record["ended_reason"]) == ("completed", "agent-ended")
    assert record["turns"][0]["heard_text"] == "Goodbye."


async def test_a_pbx_answers_the_digest_challenge_and_its_call_connects(
    server: SipServer, tmp_path: Path
) -> None:
    number = await server.trunk_number(
        await server.demo_agent_id(),
        auth={"username": "pbx", "password": "s3cret", "algorithms": ["MD5"]},
    )
    run = await uac(tmp_path, "uac_digest.xml", server.sip_target, number,
                    "-au", "pbx", "-ap", "s3cret", "-d", "500").run()  # fmt: skip
    assert run.returncode == 0, run.report
    assert run.exchange() == ["INVITE", "100", "401", "ACK", "INVITE", "100", "200", "ACK",
                              "BYE", "200"]  # fmt: skip
    record = await server.ended((await server.record_by_sid(call_id_of(run)))["id"])
    assert (record["to"], record["ended_reason"]) == (number, "caller-hangup")


async def test_a_wrong_password_is_refused_403_and_nothing_is_recorded(
    server: SipServer, tmp_path: Path
) -> None:
    number = await server.trunk_number(
        await server.demo_agent_id(),
        auth={"username": "pbx", "password": "s3cret", "algorithms": ["MD5"]},
    )
    run = await uac(tmp_path, "uac_digest_refused.xml", server.sip_target, number,
                    "-au", "pbx", "-ap", "wrong").run()  # fmt: skip
    assert run.returncode == 0, run.report
    assert run.exchange()[-2:] == ["403", "ACK"]
    assert not [call for call in await server.calls() if call["to"] == number]


async def test_unknown_numbers_and_callers_outside_the_trunk_are_refused_unrecorded(
    server: SipServer, tmp_path: Path
) -> None:
    # The caller (127.0.0.1) is not in the trunk's network and the trunk has no credentials.
    closed = await server.trunk_number(await server.demo_agent_id(), allowed_cidrs=["127.0.0.2/32"])
    unknown = new_e164()
    for number, status in ((unknown, 404), (closed, 403)):
        run = await uac(tmp_path, "uac_refused.xml", server.sip_target, number).run()
        assert run.returncode == 0, run.report
        assert run.exchange() == ["INVITE", "100", str(status), "ACK"]
    assert not [call for call in await server.calls() if call["to"] in (unknown, closed)]


async def test_a_tenant_at_its_concurrent_call_limit_is_busy_486(
    server: SipServer, tmp_path: Path
) -> None:
    # The tenant may hold one call: a first caller holds it while a second one dials.
    (tmp_path / "first").mkdir()
    write_rtp_pcap(tmp_path / "first" / "caller.pcap", silence(200))
    first = uac(tmp_path / "first", "uac_plays_pcap.xml", server.sip_target, DEMO_PHONE_NUMBER,
                "-d", "4000")  # fmt: skip
    await first.start()
    live = await live_call(server)
    second = await uac(tmp_path, "uac_refused.xml", server.sip_target, DEMO_PHONE_NUMBER).run()
    held = await first.finished()
    assert held.returncode == 0, held.report
    assert second.returncode == 0, second.report
    assert second.exchange() == ["INVITE", "100", "486", "ACK"]
    refused = await server.record_by_sid(call_id_of(second))
    assert (refused["status"], refused["ended_reason"]) == ("completed", "concurrency-limit")
    await server.ended(live["id"])


# ---------------------------------------------------------------------------------- helpers


def call_id_of(run: SippRun) -> str:
    """The Call-ID SIPp used (its first INVITE's)."""
    for line in run.messages.splitlines():
        if line.lower().startswith("call-id:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError("no Call-ID in the trace")


async def live_call(server: SipServer, timeout_s: float = 15) -> Record:
    """The tenant's call in progress, once there is one."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for call in await server.calls():
            if call["status"] == "in-progress":
                return call
        await asyncio.sleep(0.1)
    raise AssertionError("no call went in progress")


async def collect(sock: socket.socket, arrivals: list[tuple[float, bytes]]) -> None:
    """Datagrams arriving at ``sock``, with when they arrived, until cancelled."""
    loop = asyncio.get_running_loop()
    while True:
        data = await loop.sock_recv(sock, 2048)
        arrivals.append((time.monotonic(), data))
