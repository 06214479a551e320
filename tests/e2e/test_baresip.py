"""baresip, an independent SIP user agent, calls the demo agent over SIP on loopback: it talks
over the greeting (a barge-in), says two lines from a WAV file, presses a key (RFC 4733) and
hangs up; the call record and what baresip heard show the whole conversation.

baresip's microphone is a fixed recording, so the lines are spaced for the agent's answers:
the first comes 2 s in (during the greeting), the second 15.5 s in (after the opening hours),
the key 25 s in and the hang-up 31 s in.
"""

from __future__ import annotations

import asyncio
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np

from aybiza.agents.speech import VoiceOptions
from aybiza.audio.codec import silence, ulaw_to_pcm16
from aybiza.providers.tts.espeak import EspeakTts

from .baresip import Baresip, baresip_binary
from .server_process import RunningServer
from .sip_server import SipServer

GREETING = "Hello, thank you for calling ACME support. How can I help you today?"
DTMF_AT_S = 25.0
HANG_UP_AT_S = 31.0


async def microphone(path: Path) -> None:
    """The caller's side of the call as an 8 kHz 16-bit mono WAV (what aufile plays)."""
    tts = EspeakTts()
    try:
        hours = await tts.synthesize("what are your opening hours", VoiceOptions(model="en-us"))
        book = await tts.synthesize("book an appointment", VoiceOptions(model="en-us"))
    finally:
        await tts.aclose()
    audio = silence(2000) + hours + silence(12000) + book
    audio += silence(round(HANG_UP_AT_S * 1000 + 3000) - len(audio) // 8)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(ulaw_to_pcm16(audio))


def rms(path: Path, start_s: float, end_s: float) -> float:
    with wave.open(str(path)) as wav:
        rate = wav.getframerate()
        wav.setpos(int(start_s * rate))
        samples = np.frombuffer(wav.readframes(int((end_s - start_s) * rate)), "<i2")
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if samples.size else 0.0


async def record_when_ended(server: RunningServer, call_id: str) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for _ in range(100):
        record = await server.call_record(call_id)
        if record["ended_reason"] is not None:
            return record
        await asyncio.sleep(0.05)
    raise AssertionError(f"call {call_id} never ended: {record}")


async def test_baresip_talks_over_the_greeting_says_two_lines_presses_a_key_and_hangs_up(
    sip_server: SipServer, tmp_path: Path
) -> None:
    baresip_binary()  # skips (or fails on CI) before any work when baresip is missing
    wav = tmp_path / "caller.wav"
    await microphone(wav)
    async with Baresip(tmp_path / "baresip", wav) as phone:
        dialled = await phone.command("dial", sip_server.uri())
        assert dialled["ok"], dialled
        established = await phone.event("CALL_ESTABLISHED")
        started = time.monotonic()
        call_id = str(established["id"])
        await asyncio.sleep(DTMF_AT_S - (time.monotonic() - started))
        pressed = await phone.command("sndcode", "1")
        assert pressed["ok"], pressed
        await asyncio.sleep(HANG_UP_AT_S - (time.monotonic() - started))
        await phone.command("hangup")
        closed = await phone.event("CALL_CLOSED")
        assert closed["id"] == call_id
        heard = phone.heard()

    record = await record_when_ended(sip_server.server, call_id)
    assert record["carrier"] == "sip", record
    assert (record["status"], record["ended_reason"]) == ("completed", "caller-hangup")
    turns = record["turns"]
    assert [turn["user_text"] for turn in turns] == [
        "what are your opening hours",
        "book an appointment",
        "DTMF 1",
    ], record["transcript"]
    assert "open monday to friday" in turns[0]["agent_text"].lower()
    assert "day and time" in turns[1]["agent_text"]
    for turn in turns:
        for stage in ("stt_final", "llm_first_token", "tts_first_audio", "first_audio_sent"):
            assert turn["timings_ms"][stage] is not None, (stage, turn)
    # baresip spoke over the greeting: cut short, and only what it heard is in the transcript.
    assert record["stats"]["barge_ins"] >= 1
    greeting = record["transcript"][0]
    assert greeting["speaker"] == "agent" and greeting["text"] != GREETING
    assert GREETING.startswith(greeting["text"].rstrip(".")), greeting
    # What baresip heard: the greeting's start (before it spoke), then the opening hours.
    assert rms(heard, 0.0, 2.0) > 300, "baresip heard no greeting"
    assert rms(heard, 6.0, 12.0) > 300, "baresip heard no answer"
