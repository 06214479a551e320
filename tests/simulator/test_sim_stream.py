"""SimulatedCall against a fake application on a real WebSocket: pacing, numbering, marks,
clear, DTMF, hang-up and the server ending the call.

Timing bounds are generous: the machine is shared, and benchmarks, not these tests, measure speed.
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import TYPE_CHECKING

import pytest

from aybiza.audio.codec import SILENCE_BYTE
from aybiza.simulator.errors import CallEndedError
from aybiza.simulator.twilio_client import SimulatedCall

if TYPE_CHECKING:
    from .conftest import AppPeer, FakeAppFactory


def tone(duration_ms: int, byte: int = 0x10) -> bytes:
    """Loud μ-law audio (a constant code far from silence) of the given length."""
    return bytes([byte]) * (8 * duration_ms)


def is_silent(frame: bytes) -> bool:
    return all(b == SILENCE_BYTE for b in frame)


async def test_start_then_a_160_byte_frame_every_20_ms_with_string_counters(
    fake_app: FakeAppFactory,
) -> None:
    async with fake_app() as app:
        call = await SimulatedCall.connect_stream(
            app.url, custom_parameters={"agent": "demo", "from": "+15558675310"}
        )
        peer = await app.peer()
        await peer.wait_for(lambda p: len(p.of("media")) >= 30)
        await call.hangup()

    first = peer.received[0][1]
    assert first == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    start = peer.of("start")[0][1]
    assert start["sequenceNumber"] == "1"
    assert start["streamSid"] == call.stream_sid and call.stream_sid.startswith("MZ")
    assert start["start"] == {
        "accountSid": call.account_sid,
        "streamSid": call.stream_sid,
        "callSid": call.call_sid,
        "tracks": ["inbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        "customParameters": {"agent": "demo", "from": "+15558675310"},
    }
    media = peer.of("media")[:30]
    for k, (_, message) in enumerate(media, start=1):
        assert message["sequenceNumber"] == str(k + 1)
        assert message["streamSid"] == call.stream_sid
        assert message["media"]["track"] == "inbound"
        assert message["media"]["chunk"] == str(k)
        assert message["media"]["timestamp"] == str(20 * k)
        frame = base64.b64decode(message["media"]["payload"])
        assert len(frame) == 160 and is_silent(frame)
    # Paced by the wall clock, not sent in a burst: 29 intervals of 20 ms at least (a loaded
    # machine can only make it later; how much later is not this test's business).
    span = media[-1][0] - media[0][0]
    assert span > 0.58 - 0.1


async def test_said_audio_goes_out_in_frames_at_real_time_pace(fake_app: FakeAppFactory) -> None:
    async with fake_app() as app:
        call = await SimulatedCall.connect_stream(app.url)
        peer = await app.peer()
        began = time.monotonic()
        await call.say(tone(200))  # 10 frames
        took = time.monotonic() - began
        await asyncio.sleep(0.05)
        await call.hangup()
    frames = [base64.b64decode(m["media"]["payload"]) for _, m in peer.of("media")]
    spoken = [f for f in frames if not is_silent(f)]
    assert spoken == [tone(20)] * 10
    assert took > 0.15, "200 ms of speech goes out at real-time pace, not in a burst"
    assert len(call.caller_turns) == 1


async def test_mark_is_echoed_only_after_its_audio_has_played(fake_app: FakeAppFactory) -> None:
    async def behaviour(peer: AppPeer) -> None:
        await peer.send_media(tone(400))
        sent = await peer.send_mark("after-400ms")
        echoed = await peer.wait_for_mark("after-400ms")
        peer.delays = [echoed - sent]  # type: ignore[attr-defined]
        await peer.ws.wait_closed()

    async with fake_app(behaviour) as app:
        call = await SimulatedCall.connect_stream(app.url)
        peer = await app.peer()
        await peer.wait_for(lambda p: hasattr(p, "delays"))
        await call.hangup()
    delay = peer.delays[0]  # type: ignore[attr-defined]
    assert 0.37 < delay < 0.4 + 0.3
    assert call.marks_sent_back == ["after-400ms"]
    assert not call.mark_echoes[0].cleared
    echo = peer.of("mark")[0][1]
    assert echo["streamSid"] == call.stream_sid and echo["sequenceNumber"].isdigit()


async def test_marks_are_echoed_in_order_and_at_once_when_nothing_is_queued(
    fake_app: FakeAppFactory,
) -> None:
    async def behaviour(peer: AppPeer) -> None:
        sent = await peer.send_mark("idle")
        peer.idle_delay = await peer.wait_for_mark("idle") - sent  # type: ignore[attr-defined]
        for name in ("a", "b", "c"):
            await peer.send_media(tone(100))
            await peer.send_mark(name)
        await peer.send_mark("d")  # no audio of its own: due with "c"
        await peer.wait_for_mark("d")
        await peer.ws.wait_closed()

    async with fake_app(behaviour) as app:
        call = await SimulatedCall.connect_stream(app.url)
        peer = await app.peer()
        await peer.wait_for(lambda p: len(p.of("mark")) == 5)
        await call.hangup()
    assert peer.idle_delay < 0.1  # type: ignore[attr-defined]
    assert call.marks_sent_back == ["idle", "a", "b", "c", "d"]
    # Each mark falls due when the 100 ms of audio before it has played, and is never echoed
    # before then (how late depends on the machine, so only the order and the floor are checked).
    due = {e.name: e.due_at for e in call.mark_echoes}
    assert due["b"] - due["a"] == pytest.approx(0.1, abs=1e-3)
    assert due["c"] - due["b"] == pytest.approx(0.1, abs=1e-3)
    assert due["d"] == pytest.approx(due["c"], abs=1e-3)
    assert all(e.at >= e.due_at - 1e-3 for e in call.mark_echoes)
    numbers = [int(m["sequenceNumber"]) for _, m in peer.received[1:]]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)


async def test_clear_drops_queued_audio_and_echoes_pending_marks_at_once(
    fake_app: FakeAppFactory,
) -> None:
    async def behaviour(peer: AppPeer) -> None:
        await peer.send_media(tone(2000))
        await peer.send_mark("x")
        await peer.send_media(tone(1000, 0x20))
        await peer.send_mark("y")
        await asyncio.sleep(0.25)
        peer.cleared_at = await peer.send_clear()  # type: ignore[attr-defined]
        await peer.wait_for_mark("y")
        await peer.ws.wait_closed()

    async with fake_app(behaviour) as app:
        call = await SimulatedCall.connect_stream(app.url)
        peer = await app.peer()
        await peer.wait_for(lambda p: len(p.of("mark")) == 2)
        await asyncio.sleep(0.1)
        await call.hangup()
    cleared_at = peer.cleared_at  # type: ignore[attr-defined]
    assert [m["mark"]["name"] for _, m in peer.of("mark")] == ["x", "y"]
    assert all(t >= cleared_at for t, _ in peer.of("mark"))
    # Released by the clear: due the moment it arrived, not when their audio would have played.
    assert all(e.due_at <= call.clears[0] + 1e-3 for e in call.mark_echoes)
    assert [(e.name, e.cleared) for e in call.mark_echoes] == [("x", True), ("y", True)]
    assert len(call.clears) == 1
    heard = call.played_audio
    agent_bytes = sum(1 for b in heard if b == 0x10)
    # The audio before the clear (the agent waited 250 ms) played; the rest of its 2 s did not.
    assert 0.15 * 8000 < agent_bytes < 2.0 * 8000
    assert 0x20 not in heard


async def test_dtmf_is_sent_like_twilio_and_times_the_answer(fake_app: FakeAppFactory) -> None:
    async def behaviour(peer: AppPeer) -> None:
        await peer.wait_for(lambda p: bool(p.of("dtmf")))
        await asyncio.sleep(0.1)
        await peer.send_media(tone(100))
        await peer.ws.wait_closed()

    async with fake_app(behaviour) as app:
        call = await SimulatedCall.connect_stream(app.url)
        peer = await app.peer()
        await call.send_dtmf("5")
        latency = await call.wait_for_agent_audio(timeout=3)
        await call.hangup()
    dtmf = peer.of("dtmf")[0][1]
    assert dtmf["dtmf"] == {"track": "inbound_track", "digit": "5"}
    assert dtmf["streamSid"] == call.stream_sid
    assert latency > 0.09, "timed from the key press to the agent's audio 100 ms later"
    assert call.turn_latencies == [latency]


async def test_greeting_and_answer_latency_are_measured_from_start_and_end_of_speech(
    fake_app: FakeAppFactory,
) -> None:
    async def behaviour(peer: AppPeer) -> None:
        await asyncio.sleep(0.15)
        await peer.send_media(tone(200))
        # Answer 0.2 s after the first silent frame that follows the caller's speech.
        await peer.wait_for(lambda p: any(not is_silent(_frame(m)) for _, m in p.of("media")))
        await peer.wait_for(lambda p: is_silent(_frame(p.of("media")[-1][1])))
        await asyncio.sleep(0.2)
        await peer.send_media(tone(200))
        await peer.ws.wait_closed()

    async with fake_app(behaviour) as app:
        call = await SimulatedCall.connect_stream(app.url)
        greeting = await call.wait_for_agent_audio(timeout=3)
        await call.wait_until_agent_done(quiet_ms=100, timeout=3)
        await call.say(tone(100) + bytes([0xFF]) * 800)  # speech, then 100 ms of silence
        answer = await call.wait_for_agent_audio(timeout=3)
        await call.hangup()
    assert 0.14 < greeting < 0.5
    assert call.greeting_latency == greeting
    # Speech ended 100 ms before the silence ended; the fake answers 200 ms after that.
    assert 0.2 < answer < 0.7


async def test_wait_until_agent_done_waits_for_playback_to_finish(fake_app: FakeAppFactory) -> None:
    async def behaviour(peer: AppPeer) -> None:
        await peer.send_media(tone(600))
        await peer.ws.wait_closed()

    async with fake_app(behaviour) as app:
        call = await SimulatedCall.connect_stream(app.url)
        await call.wait_for_agent_audio(timeout=3)
        began = time.monotonic()
        await call.wait_until_agent_done(quiet_ms=100, timeout=3)
        waited = time.monotonic() - began
        await call.hangup()
    assert 0.5 < waited < 1.0
    with pytest.raises(CallEndedError):
        await call.say(tone(20))


async def test_hangup_sends_stop_and_closes_and_is_idempotent(fake_app: FakeAppFactory) -> None:
    async with fake_app() as app:
        call = await SimulatedCall.connect_stream(app.url, call_sid="CA" + "1" * 32)
        peer = await app.peer()
        await call.hangup()
        await call.hangup()
        await peer.ws.wait_closed()
    stop = peer.received[-1][1]
    assert stop["event"] == "stop"
    assert stop["stop"] == {"accountSid": call.account_sid, "callSid": "CA" + "1" * 32}
    assert int(stop["sequenceNumber"]) == len(peer.received) - 1
    assert not call.closed_by_server and call.ended


async def test_server_closing_the_socket_ends_the_call(fake_app: FakeAppFactory) -> None:
    async def behaviour(peer: AppPeer) -> None:
        await peer.ws.close(1000, "agent hung up")

    async with fake_app(behaviour) as app:
        call = await SimulatedCall.connect_stream(app.url)
        await call.wait_until_ended(timeout=3)
        assert call.closed_by_server
        assert (call.close_code, call.close_reason) == (1000, "agent hung up")
        with pytest.raises(CallEndedError):
            await call.say(tone(20))
        with pytest.raises(CallEndedError):
            await call.wait_for_agent_audio(timeout=1)
        await call.hangup()  # nothing left to do, and no error


async def test_messages_twilio_would_reject_are_recorded_not_played(
    fake_app: FakeAppFactory,
) -> None:
    async def behaviour(peer: AppPeer) -> None:
        await peer.ws.send("not json")
        await peer.ws.send('{"event":"media","streamSid":"MZwrong","media":{"payload":""}}')
        await peer.send_media(tone(20))
        await peer.ws.wait_closed()

    async with fake_app(behaviour) as app:
        call = await SimulatedCall.connect_stream(app.url)
        await call.wait_for_agent_audio(timeout=3)
        await call.hangup()
    assert len(call.protocol_errors) == 2
    assert [e.kind for e in call.received_events] == ["media"]


async def test_start_can_be_withheld_and_raw_text_sent(fake_app: FakeAppFactory) -> None:
    async with fake_app() as app:
        call = await SimulatedCall.connect_stream(app.url, send_start=False)
        assert await call.send_raw('{"event":"media"}')
        peer = await app.peer()
        await peer.wait_for(lambda p: len(p.received) == 2)
        assert peer.received[1][1] == {"event": "media"}
        with pytest.raises(RuntimeError, match="start_stream"):
            await call.say(tone(20))
        await peer.ws.close(1008, "no start")
        await call.wait_until_ended(timeout=3)
        assert not await call.send_raw('{"event":"media"}')
        await call.hangup()
    assert (call.close_code, call.close_reason) == (1008, "no start")


def _frame(message: dict[str, object]) -> bytes:
    media = message["media"]
    assert isinstance(media, dict)
    return base64.b64decode(media["payload"])
