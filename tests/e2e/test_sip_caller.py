"""``aybiza call --sip`` and the simulator's own SIP user agent against a real server answering
SIP on loopback: the same conversation, report and call record as a Twilio call, and the
``send_dtmf`` tool pressing RFC 4733 keys on a SIP call."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import wave
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from aybiza.agents.demo import DEMO_AGENT, DEMO_PHONE_NUMBER
from aybiza.agents.speech import VoiceOptions
from aybiza.audio.codec import silence
from aybiza.providers.tts.espeak import EspeakTts
from aybiza.simulator.script import SayStep, ScriptTiming, run_script
from aybiza.simulator.sip_client import SipSimulatedCall
from aybiza.simulator.twilio_client import SimulatedCall

from .server_process import RunningServer
from .sip_server import SipServer

AYBIZA = Path(sys.executable).parent / "aybiza"
TIMING_STAGES = ("stt_final", "llm_first_token", "tts_first_audio", "first_audio_sent")


async def record_when_ended(server: RunningServer, call_sid: str) -> dict[str, Any]:
    """The call record once the server has written the call's end."""
    record: dict[str, Any] = {}
    for _ in range(100):
        record = await server.call_record(call_sid)
        if record["ended_reason"] is not None:
            return record
        await asyncio.sleep(0.05)
    raise AssertionError(f"call {call_sid} never ended: {record}")


async def aybiza_call(*args: str) -> tuple[int, str]:
    """Run ``aybiza call`` with ``args``; its exit code and output (wide: no table cut)."""
    process = await asyncio.create_subprocess_exec(
        str(AYBIZA),
        "call",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "200"},
    )
    output, _ = await asyncio.wait_for(process.communicate(), 180)
    assert process.returncode is not None
    return process.returncode, output.decode()


def heard_rms(path: Path, seconds: float) -> float:
    """RMS of the first ``seconds`` of a 16-bit WAV file."""
    with wave.open(str(path)) as wav:
        samples = np.frombuffer(wav.readframes(int(seconds * wav.getframerate())), "<i2")
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))


def shape(record: dict[str, Any]) -> dict[str, Any]:
    """The keys of a call record, of its turns, their timings and its transcript lines."""
    turns = record["turns"]
    return {
        "record": sorted(record),
        "turn": sorted({key for turn in turns for key in turn}),
        "timings": sorted({key for turn in turns for key in turn["timings_ms"]}),
        "line": sorted({key for line in record["transcript"] for key in line}),
        "cost": sorted(record["cost"]),
    }


async def test_aybiza_call_sip_talks_presses_a_key_hangs_up_and_reports_like_a_twilio_call(
    sip_server: SipServer, tmp_path: Path
) -> None:
    sip = sip_server
    server = sip.server
    saved = tmp_path / "heard.wav"
    code, output = await aybiza_call(
        *("--sip", sip.uri(), "--url", server.base_url, "--api-key", server.api_key),
        *("--say", "what are your opening hours", "--say", "book an appointment"),
        *("--dtmf", "1", "--save", str(saved), "--timeout", "30"),
    )
    assert code == 0, output
    connected = re.search(r"connected: call (\S+) over SIP, RTP PCMU", output)
    assert connected is not None, output
    call_sid = connected.group(1)
    assert "greeting started after" in output
    assert len(re.findall(r"→ answered after \d+ ms", output)) == 3, output
    assert f"Call {call_sid}: the caller hung up" in output
    assert "Transcript" in output and "voice-to-voice" in output and "platform" in output
    # What the caller heard begins with the greeting.
    assert heard_rms(saved, 3.0) > 300

    record = await record_when_ended(server, call_sid)
    assert record["call_sid"] == call_sid and record["carrier"] == "sip"
    assert (record["status"], record["ended_reason"]) == ("completed", "caller-hangup")
    turns = record["turns"]
    assert [turn["user_text"] for turn in turns] == [
        "what are your opening hours",
        "book an appointment",
        "DTMF 1",
    ]
    assert "open" in turns[0]["agent_text"].lower()
    assert "day and time" in turns[1]["agent_text"]
    assert "day and time" in turns[2]["agent_text"]  # a key is no day: asked again
    for turn in turns:
        assert turn["heard_text"] == turn["agent_text"]
        for stage in TIMING_STAGES:
            assert turn["timings_ms"][stage] is not None, (stage, turn)
        assert turn["timings_ms"]["platform_added"] is not None
    speakers = [line["speaker"] for line in record["transcript"]]
    assert speakers == ["agent", "caller", "agent", "caller", "agent", "caller", "agent"]
    assert record["stats"]["greeting_latency_ms"] > 0

    # A Twilio call to the same agent on the same server: its record has the same shape.
    tts = EspeakTts()
    try:
        line = silence(200) + await tts.synthesize(
            "what are your opening hours", VoiceOptions(model="en-us")
        )
    finally:
        await tts.aclose()
    twilio = await SimulatedCall.dial(
        server.base_url, to=DEMO_PHONE_NUMBER, auth_token=server.auth_token
    )
    outcome = await run_script(twilio, [SayStep("hours", line)], ScriptTiming(answer_timeout_s=30))
    await twilio.hangup()
    assert outcome.problems == []
    twilio_record = await record_when_ended(server, twilio.call_sid)
    assert twilio_record["carrier"] == "twilio"
    assert shape(record) == shape(twilio_record)


KEYPAD_AGENT = {
    **DEMO_AGENT,
    "name": "Keypad agent",
    "greeting": "Hello. Press five and I will press keys for you.",
    "automation": {**DEMO_AGENT["automation"], "tools": ["send_dtmf"]},
    "flow": {
        "start": "main",
        "nodes": {
            "main": {
                "type": "listen",
                "branches": [{"intent": "press", "keywords": ["yes"], "digits": ["5"],
                              "next": "press"}],
            },
            # Waits for the outcome (on_error), so "Done" is said once the keys went out.
            "press": {"type": "tool", "tool": "send_dtmf", "arguments": {"digits": "12w#"},
                      "next": "done", "on_error": "failed"},
            "done": {"type": "say", "text": "Done.", "next": "main"},
            "failed": {"type": "say", "text": "The keys did not go out.", "next": "main"},
        },
    },
}  # fmt: skip


async def test_the_send_dtmf_tool_presses_rfc_4733_keys_on_a_sip_call(
    sip_server: SipServer,
) -> None:
    sip = sip_server
    server = sip.server
    headers = {"Authorization": f"Bearer {server.api_key}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as http:
        agent = await http.post("/v1/agents", json=KEYPAD_AGENT)
        assert agent.status_code == 201, agent.text
        number = await http.post(
            "/v1/phone-numbers",
            json={
                "number": "+15550104242",
                "type": "sip_trunk",
                "agent_id": agent.json()["id"],
                "sip": {"gateways": ["127.0.0.1:5999"], "allowed_cidrs": ["127.0.0.0/8"]},
            },
        )
        assert number.status_code == 201, number.text
    call = await SipSimulatedCall.dial(sip.uri("+15550104242"))
    try:
        await call.wait_for_agent_audio(timeout=15)
        await call.wait_until_agent_done(timeout=20)
        await call.send_dtmf("5")
        await call.wait_for_agent_audio(timeout=20)  # "Done.", once the keys were sent
        await call.wait_until_agent_done(timeout=20)
    finally:
        await call.hangup()
    assert call.digits_heard == ["1", "2", "#"]
    record = await record_when_ended(server, call.call_sid)
    pressed = [tool for tool in record["tool_calls"] if tool["name"] == "send_dtmf"]
    assert len(pressed) == 1, record["tool_calls"]
    assert pressed[0]["result"]["as"] == "keypad events", pressed[0]
    assert record["transcript"][-1]["text"] == "Done."
