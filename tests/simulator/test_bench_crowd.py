"""The benchmark's lean callers (bench/crowd.py) against the simulator's reference behaviour:
the same wire messages as ``wire.py``, frames on a jitter-free grid caught up after a late tick,
marks echoed when Twilio would, and the audible-gap rule of the load generator.

Times are passed in explicitly: nothing here asserts on how long anything took."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import random
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pytest
from bench.crowd import (
    CLIENT_FRAMES,
    FRAME_S,
    MIN_SLEEP_S,
    Caller,
    Crowd,
    Speaker,
    frames_due,
    mark_message,
    mark_template,
    media_message,
    media_template,
    prepare_line,
    tick_at,
    tick_index,
)
from bench.loadgen import AUDIBLE_GAP_S, audible_gaps, percentile, summarize
from websockets.asyncio.client import ClientConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import CLOSED, OPEN, State
from websockets.streams import StreamReader

from aybiza.audio.codec import FRAME_BYTES, FRAME_MS, SILENCE_BYTE, pcm16_to_ulaw
from aybiza.simulator import wire
from aybiza.simulator.caller_audio import SILENT_FRAME, last_voiced_frame
from aybiza.simulator.earpiece import ReceivedEvent
from aybiza.simulator.playback import TwilioPlayback

if TYPE_CHECKING:
    from .conftest import AppPeer, FakeAppFactory, FakeHttpServer

SID = "MZ0123456789abcdef0123456789abcdef"


def _tone(frames: int) -> bytes:
    t = np.arange(frames * FRAME_BYTES) / 8000
    return pcm16_to_ulaw((8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16))


SPOKEN = _tone(5) + bytes([SILENCE_BYTE]) * (3 * FRAME_BYTES - 40)  # 5 voiced, 3 quiet frames


# ---------------------------------------------------------------- the wire


@pytest.mark.parametrize(
    ("sequence_number", "chunk", "audio"),
    [
        (2, 1, SILENT_FRAME),
        (77, 70, bytes(range(160))),
        (123456, 99999, bytes([0x7F, 0x00, 0xFF, 0x80]) * 40),
    ],
)
def test_media_message_is_byte_for_byte_what_wire_encodes(
    sequence_number: int, chunk: int, audio: bytes
) -> None:
    payload = binascii.b2a_base64(audio, newline=False)
    ours = media_message(media_template(SID), sequence_number, chunk, payload).decode()
    reference = wire.encode(
        "media",
        sequence_number,
        SID,
        wire.media_body(chunk=chunk, timestamp_ms=chunk * FRAME_MS, payload=audio),
    )
    assert ours == reference
    assert json.loads(ours) == json.loads(reference)


@pytest.mark.parametrize("name", ["u1s0c1", 'quote " and \\ backslash', "caf\u00e9 \u2603", ""])
def test_mark_echo_is_byte_for_byte_what_wire_encodes(name: str) -> None:
    ours = mark_message(mark_template(SID), 41, name).decode()
    assert ours == wire.encode("mark", 41, SID, wire.mark_body(name))


def test_a_line_is_cut_into_frames_padded_with_silence() -> None:
    line = prepare_line(SPOKEN)
    assert len(line.payloads) == 8
    decoded = b"".join(base64.b64decode(p) for p in line.payloads)
    assert decoded == SPOKEN + bytes([SILENCE_BYTE]) * 40
    assert line.last_voiced == last_voiced_frame(SPOKEN) == 4
    with pytest.raises(ValueError):
        prepare_line(b"")


@pytest.mark.parametrize("size", [0, 1, 125, 126, 330, 65535, 65536, 70000])
def test_client_frames_parse_as_masked_text_frames(size: int) -> None:
    data = bytes(random.Random(size).choice(b'abc{}"0123') for _ in range(size))
    first, second = CLIENT_FRAMES.text(data), CLIENT_FRAMES.text(data)
    for raw in (first, second):
        frame = _read_client_frame(raw)
        assert (frame.opcode, frame.fin, bytes(frame.data)) == (Opcode.TEXT, True, data)
        assert raw[1] & 0x80, "a client masks every frame"
    assert first[:2] == second[:2]
    if size >= 4:
        assert first != second, "each frame has its own masking key"


def test_masking_keys_keep_coming_past_the_pool() -> None:
    keys = {CLIENT_FRAMES.text(b"x")[2:6] for _ in range(3000)}  # 12 kB of keys: 3 refills
    assert len(keys) > 2990


# ---------------------------------------------------------------- the ticker's grid


def test_tick_grid_is_fixed_whatever_the_wake_up_times() -> None:
    t0 = 500.0
    assert tick_index(t0, t0) == 0
    assert tick_index(t0 + 0.0199, t0) == 0
    assert tick_index(t0 + 0.02, t0) == 1
    assert tick_index(t0 - 0.001, t0) == -1
    # The next wake-up targets the grid, not "now + 20 ms": lateness does not accumulate.
    for late_by in (0.0, 0.003, 0.019, 0.25):
        now = tick_at(7, t0) + late_by
        due = tick_index(now, t0)
        assert tick_at(due + 1, t0) == pytest.approx(t0 + (due + 1) * FRAME_S)
        assert tick_at(due + 1, t0) > now


def test_frames_owed_cover_every_tick_skipped_by_a_late_wake_up() -> None:
    assert frames_due(next_tick=5, due_tick=4) == 0
    assert frames_due(next_tick=5, due_tick=5) == 1
    assert frames_due(next_tick=5, due_tick=9) == 5


# ---------------------------------------------------------------- a caller on a fake socket


def _read_client_frame(data: bytes) -> Frame:
    """Parse ``data`` as exactly one masked client frame, with websockets' own parser."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=True)
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        assert reader.buffer == b"", "one write, one frame"
        return frame
    raise AssertionError(f"incomplete frame: {data[:40]!r}")


class _FakeProtocol:
    """websockets' sans-I/O protocol, as far as a Caller uses it."""

    def __init__(self) -> None:
        self.state: State = OPEN


class _FakeTransport:
    """Decodes the frames a Caller writes to the socket directly."""

    def __init__(self, sent: list[dict[str, Any]]) -> None:
        self.sent = sent

    def write(self, data: bytes) -> None:
        frame = _read_client_frame(data)
        assert frame.opcode is Opcode.TEXT
        assert frame.fin
        self.sent.append(json.loads(bytes(frame.data).decode("utf-8")))


class _FakeSocket:
    """Just enough of a websockets ClientConnection for a Caller: sends are recorded."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.protocol = _FakeProtocol()
        self.transport = _FakeTransport(self.sent)
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._closed = asyncio.Event()

    def send_data(self) -> None:
        pass

    def __aiter__(self) -> _FakeSocket:
        return self

    async def __anext__(self) -> str:
        await self._closed.wait()
        raise StopAsyncIteration

    async def close(self) -> None:
        self.protocol.state = CLOSED
        self.close_code = 1000
        self._closed.set()


async def _caller(crowd: Crowd, started_at: float) -> tuple[Caller, _FakeSocket]:
    socket = _FakeSocket()
    caller = Caller(
        crowd,
        cast(ClientConnection, socket),
        call_sid="CA" + "1" * 32,
        account_sid="AC" + "2" * 32,
        stream_sid=SID,
        custom_parameters={"agent": "bench"},
    )
    caller.start(at=started_at)
    return caller, socket


def _media(sent: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in sent if m["event"] == "media"]


class _Stop(Exception):
    pass


class _LateClock:
    """A clock for the ticker whose sleeps overrun by up to 8 ms, with a stall of up to half a
    second now and then, or end up to 1.5 ms early; it checks the ticker's pace at every
    sleep."""

    def __init__(self, crowd: Crowd, sent: list[dict[str, Any]], joined_tick: int) -> None:
        self.now = crowd.t0 + 0.013
        self._crowd = crowd
        self._sent = sent
        self._joined_tick = joined_tick
        self._rng = random.Random(7)
        self.stalls = 0
        self.wake_ups = 0
        self.early = 0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        t0 = self._crowd.t0
        due = tick_index(self.now, t0)
        # Exactly one frame per tick since the caller joined, however late this wake-up was.
        assert len(_media(self._sent)) == due - self._joined_tick
        # The wake-up targets the next grid point, not 20 ms after now (never spinning: a
        # wake-up less than MIN_SLEEP_S before it is that much late).
        target = tick_at(due + 1, t0)
        assert target - 1e-9 <= self.now + delay <= max(target, self.now + MIN_SLEEP_S) + 1e-9
        self.wake_ups += 1
        if self._rng.random() < 0.2 and target - self.now > 1e-4:
            # Like uvloop's millisecond timers: up to 1.5 ms before the tick is due.
            self.now = max(self.now, target - self._rng.uniform(1e-5, 0.0015))
            self.early += 1
            return
        self.now += delay + self._rng.uniform(0, 0.008)
        if self._rng.random() < 0.01:
            self.stalls += 1
            self.now += self._rng.uniform(0.1, 0.5)
        if self.now > t0 + 60:
            raise _Stop


async def test_the_ticker_keeps_real_time_pace_through_late_wake_ups_and_stalls() -> None:
    crowd = Crowd()
    try:
        crowd.t0 = 0.0
        _, socket = await _caller(crowd, started_at=0.013)  # first frame: tick 1
        clock = _LateClock(crowd, socket.sent, joined_tick=0)
        with pytest.raises(_Stop):
            await crowd.run_ticker(clock=clock, sleep=clock.sleep)
        assert clock.stalls > 3
        # Every wake-up handled a tick, except the early ones, which sent nothing.
        assert clock.early > 100
        assert clock.wake_ups == crowd.ticks + clock.early
        assert crowd.late_frames > 100
        media = _media(socket.sent)
        assert len(media) >= 2900
        assert [m["media"]["chunk"] for m in media] == [str(i) for i in range(1, len(media) + 1)]
    finally:
        await crowd.aclose()


async def test_frames_are_numbered_like_twilio_and_caught_up_after_a_stall() -> None:
    crowd = Crowd()
    try:
        crowd.t0 = 100.0
        caller, socket = await _caller(crowd, started_at=100.005)
        sent = socket.sent
        assert sent[0]["event"] == "start"
        assert sent[0]["sequenceNumber"] == "1"
        assert sent[0]["start"]["customParameters"] == {"agent": "bench"}
        crowd.run_tick(100.004)  # before the caller started: nothing
        crowd.run_tick(100.021)  # tick 1
        assert len(_media(sent)) == 1
        crowd.run_tick(100.0999)  # ticks 2-4 at once, after a late wake-up
        assert len(_media(sent)) == 4
        assert crowd.late_frames == 2
        crowd.run_tick(100.0999)  # the same tick again: nothing owed
        assert len(_media(sent)) == 4
        crowd.run_tick(100.0 + 1000 * FRAME_S + 0.001)
        media = _media(sent)
        assert len(media) == 1000
        assert [m["media"]["chunk"] for m in media] == [str(i) for i in range(1, 1001)]
        assert [m["media"]["timestamp"] for m in media] == [str(20 * i) for i in range(1, 1001)]
        assert [m["sequenceNumber"] for m in sent] == [str(i) for i in range(1, 1002)]
        assert all(m["streamSid"] == SID for m in sent)
        assert all(m["media"]["payload"] == base64.b64encode(SILENT_FRAME).decode() for m in media)
        await caller.hangup()
        assert sent[-1] == {
            "event": "stop",
            "sequenceNumber": "1002",
            "streamSid": SID,
            "stop": {"accountSid": "AC" + "2" * 32, "callSid": "CA" + "1" * 32},
        }
        crowd.run_tick(200.0)  # a hung-up caller sends nothing more
        assert len(sent) == 1002
    finally:
        await crowd.aclose()


async def test_a_line_is_spoken_frame_by_frame_and_timed_from_its_last_voiced_frame() -> None:
    crowd = Crowd()
    try:
        crowd.t0 = 0.0
        caller, socket = await _caller(crowd, started_at=0.001)
        line = prepare_line(SPOKEN)
        saying = asyncio.create_task(caller.say(line))
        await asyncio.sleep(0)
        for tick in range(1, 8):
            crowd.run_tick(tick * FRAME_S)
            # The answer is timed from the send of frame 5 (index 4), the last voiced one.
            assert len(caller.latency.turns) == (1 if tick >= 5 else 0)
        assert caller.latency.current_answer() is None
        await asyncio.sleep(0)
        assert not saying.done()  # one frame of the line is still to go
        crowd.run_tick(8 * FRAME_S)
        crowd.run_tick(9 * FRAME_S)
        await saying
        payloads = [m["media"]["payload"].encode() for m in _media(socket.sent)]
        assert payloads == [*line.payloads, base64.b64encode(SILENT_FRAME)]
        # Agent audio that arrives after the end of speech answers the turn.
        caller.handle(_agent_media(1600), caller.latency.turns[0].ended_at + 0.25)
        assert caller.turn_latencies == [pytest.approx(0.25)]
    finally:
        await crowd.aclose()


def _agent_media(byte_count: int, sid: str = SID) -> str:
    payload = base64.b64encode(b"\x10" * byte_count).decode()
    return f'{{"event":"media","streamSid":"{sid}","media":{{"payload":"{payload}"}}}}'


def _agent(event: str, sid: str = SID, **body: Any) -> str:
    return json.dumps({"event": event, "streamSid": sid, **body})


async def test_marks_are_echoed_on_the_first_tick_after_their_audio_has_played() -> None:
    crowd = Crowd()
    try:
        crowd.t0 = 0.0
        caller, socket = await _caller(crowd, started_at=0.0)
        t = caller.opened_at
        caller.handle(_agent_media(1600), t + 1.0)  # 200 ms of audio: plays 1.0-1.2
        caller.handle(_agent("mark", mark={"name": "a"}), t + 1.0)
        caller.handle(_agent_media(800), t + 1.05)  # queued behind: plays 1.2-1.3
        caller.handle(_agent("mark", mark={"name": "b"}), t + 1.05)
        crowd.run_tick(t + 1.19)
        assert caller.marks_sent_back == []
        crowd.run_tick(t + 1.2)
        assert caller.marks_sent_back == [("a", False)]
        crowd.run_tick(t + 1.3)
        assert caller.marks_sent_back == [("a", False), ("b", False)]
        # A clear drops the queue: pending marks go back at once, flagged, on the next tick.
        caller.handle(_agent_media(8000), t + 2.0)
        caller.handle(_agent("mark", mark={"name": "c"}), t + 2.0)
        caller.handle(_agent("mark", mark={"name": "d"}), t + 2.0)
        caller.handle(_agent("clear"), t + 2.5)
        assert caller.clears == [t + 2.5]
        assert caller.speaker.playing_until() == pytest.approx(t + 2.5)
        crowd.run_tick(t + 2.5)
        assert caller.marks_sent_back[2:] == [("c", True), ("d", True)]
        echoes = [m for m in socket.sent if m["event"] == "mark"]
        assert [m["mark"]["name"] for m in echoes] == ["a", "b", "c", "d"]
        numbers = [int(m["sequenceNumber"]) for m in socket.sent]
        assert numbers == list(range(1, len(numbers) + 1))
        # Messages Twilio would reject are noted and ignored.
        caller.handle(_agent_media(160, sid="MZother"), t + 3.0)
        caller.handle("not json", t + 3.0)
        assert len(caller.protocol_errors) == 2
        assert [e.kind for e in caller.received_events] == [
            "media",
            "mark",
            "media",
            "mark",
            "media",
            "mark",
            "mark",
            "clear",
        ]
    finally:
        await crowd.aclose()


def test_speaker_matches_twilio_playback_on_random_traffic() -> None:
    rng = random.Random(11)
    for _ in range(50):
        opened = 1000.0
        reference, ours = TwilioPlayback(opened), Speaker(opened)
        now = opened
        names = iter(range(10_000))
        for _ in range(200):
            now += rng.choice([0.0, 0.001, 0.02, 0.1, 0.37])
            action = rng.random()
            if action < 0.4:
                size = rng.choice([0, 160, 800, 4000, 8000])
                reference.add_audio(b"\x10" * size, now)
                ours.add_audio(size, now)
            elif action < 0.75:
                name = f"m{next(names)}"
                reference.add_mark(name, now)
                ours.add_mark(name, now)
            elif action < 0.8:
                reference.clear(now)
                ours.clear(now)
            else:
                expected = [(m.name, m.cleared) for m in reference.pop_due_marks(now)]
                assert (ours.next_due <= now) == bool(expected)
                assert ours.pop_due(now) == expected
            assert ours.playing_until() == reference.playing_until()
            assert ours.pending_marks == reference.pending_marks


def test_fast_media_path_agrees_with_the_full_decode() -> None:
    from bench.twilio_messages import media_byte_count

    prefix = f'{{"event":"media","streamSid":"{SID}","media":{{"payload":"'
    assert media_byte_count(_agent_media(8000), prefix) == 8000
    assert media_byte_count(_agent_media(0), prefix) == 0
    spaced = json.dumps({"event": "media", "streamSid": SID, "media": {"payload": "EBAQ"}})
    assert media_byte_count(spaced, prefix) is None  # other JSON layouts take the full decode
    assert media_byte_count(_agent_media(160, sid="MZother"), prefix) is None
    assert media_byte_count(prefix + 'not base64!"}}', prefix) is None
    decoded = wire.decode(spaced, SID)
    assert isinstance(decoded, wire.AgentMedia)
    assert len(decoded.payload) == 3


# ---------------------------------------------------------------- audible gaps


def _media_at(at: float, byte_count: int) -> ReceivedEvent:
    return ReceivedEvent("media", at, byte_count)


def test_a_late_chunk_inside_an_answer_is_a_gap() -> None:
    events = [_media_at(1.0, 800), _media_at(1.15, 800)]  # first plays 1.0-1.1
    assert audible_gaps(events, [0.0]) == [pytest.approx(0.05)]


def test_a_chunk_late_by_less_than_the_threshold_is_no_gap() -> None:
    late = AUDIBLE_GAP_S / 2
    events = [_media_at(1.0, 800), _media_at(1.1 + late, 800)]
    assert audible_gaps(events, [0.0]) == []


def test_silence_before_an_answer_is_latency_not_a_gap() -> None:
    events = [_media_at(1.0, 800), _media_at(3.0, 800), _media_at(3.5, 800)]
    # A caller turn ended at 2.0: the chunk at 3.0 starts a new answer, the one at 3.5 is late.
    assert audible_gaps(events, [0.0, 2.0]) == [pytest.approx(0.4)]
    assert audible_gaps(events, [0.0]) == [pytest.approx(1.9), pytest.approx(0.4)]


def test_clear_empties_the_queue_and_marks_are_no_audio() -> None:
    events = [
        _media_at(1.0, 8000),  # plays 1.0-2.0
        ReceivedEvent("clear", 1.2),
        ReceivedEvent("mark", 1.25, mark_name="x"),
        _media_at(1.23, 800),  # 30 ms after the clear: no gap; plays 1.23-1.33
        _media_at(1.5, 800),  # 170 ms after it finished: a gap
    ]
    assert audible_gaps(events, [0.0]) == [pytest.approx(0.17)]


def test_summary_keys_and_percentiles() -> None:
    results: list[dict[str, Any]] = [
        {
            "call_sid": "CA1",
            "ok": True,
            "error": None,
            "greeting_latency_s": 0.1,
            "turn_latencies_s": [0.5, 0.7],
            "clear_latencies_s": [0.2],
            "gaps_s": [],
            "unanswered_turns": 0,
            "rang_at": 10.0,
            "hung_up_at": 30.0,
        },
        {
            "call_sid": "",
            "ok": False,
            "error": "dial: boom",
            "greeting_latency_s": None,
            "turn_latencies_s": [],
            "clear_latencies_s": [],
            "gaps_s": [0.06],
            "unanswered_turns": 1,
            "rang_at": 20.0,
            "hung_up_at": 22.0,
        },
    ]
    summary = summarize(results)
    # Up at once: both from 20 s to 22 s; on average 22 call-seconds over 20 s.
    assert summary["peak_concurrent"] == 2
    assert summary["mean_concurrent"] == pytest.approx(1.1)
    assert summary["calls"] == 2
    assert summary["dropped"] == 1
    assert summary["errors"] == ["dial: boom"]
    assert summary["greeting_p50_s"] == 0.1
    assert summary["v2v_p50_s"] == pytest.approx(0.6)
    assert summary["audible_gaps"] == 1
    assert summary["calls_with_gaps"] == 1
    assert summary["unanswered_turns"] == 1
    assert percentile([], 50) is None


# ---------------------------------------------------------------- over real sockets


async def test_a_dialled_caller_speaks_twilio_to_a_real_server(
    fake_app: FakeAppFactory, fake_http: type[FakeHttpServer]
) -> None:
    async def greet(peer: AppPeer) -> None:
        await peer.send_media(b"\x10" * 800)  # 100 ms
        await peer.send_mark("greeting")
        await peer.wait_for_mark("greeting")
        await peer.ws.wait_closed()

    async with (
        fake_app(greet) as app,
        fake_http(stream_url=app.url, auth_token="secret", parameters={"k": "v"}) as http,
        Crowd() as crowd,
    ):
        call = await crowd.dial(http.base_url, to="+15005550006", auth_token="secret")
        assert http.signature_ok == [True]
        latency = await call.wait_for_agent_audio(timeout=5)
        assert latency == call.greeting_latency
        peer = await app.peer()
        await peer.wait_for_mark("greeting")
        await call.wait_until_agent_done(quiet_ms=100, timeout=5)
        await peer.wait_for(lambda p: len(p.of("media")) >= 3)
        await call.hangup()
        await peer.wait_for(lambda p: p.closed)

    assert peer.headers.get("X-Twilio-Signature")
    events = [m for _, m in peer.received]
    assert events[0] == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    start = events[1]
    assert start["event"] == "start"
    assert start["start"]["callSid"] == call.call_sid
    assert start["start"]["customParameters"] == {"k": "v"}
    assert start["start"]["mediaFormat"] == {
        "encoding": "audio/x-mulaw",
        "sampleRate": 8000,
        "channels": 1,
    }
    numbered = events[1:]
    assert [m["sequenceNumber"] for m in numbered] == [str(i) for i in range(1, len(numbered) + 1)]
    media = [m for m in numbered if m["event"] == "media"]
    assert [m["media"]["chunk"] for m in media] == [str(i) for i in range(1, len(media) + 1)]
    assert [m["event"] for m in numbered if m["event"] != "media"] == ["start", "mark", "stop"]
    echo = next(m for m in numbered if m["event"] == "mark")
    assert echo["mark"] == {"name": "greeting"}
    # The echo waited for the 100 ms of audio to play: five frames went out first at least.
    frames_before_echo = numbered.index(echo) - 1
    assert frames_before_echo >= 4
    assert numbered[-1]["stop"]["callSid"] == call.call_sid


async def test_phases_spread_callers_over_the_frame_and_each_keeps_its_own_pace() -> None:
    """With phases, callers join round-robin onto offsets within the 20 ms frame; a sub-tick
    sends only its phase's frames, and every caller still sends one frame per 20 ms."""
    with pytest.raises(ValueError, match="phases"):
        Crowd(phases=0)
    crowd = Crowd(phases=4)
    crowd.t0 = 0.0
    sent: dict[str, list[int]] = {}

    class Pacer:
        def __init__(self, name: str) -> None:
            self.name = name
            self.next_tick = 0
            self.phase_s = 0.0
            self.slot = 0
            self.speaker = Speaker(0.0)
            sent[name] = []

        def send_frames(self, count: int) -> None:
            self.next_tick += count
            sent[self.name].extend([crowd.ticks] * count)

        def echo_marks(self, now: float) -> None:
            raise AssertionError("no marks were queued")

    pacers = [Pacer(f"c{i}") for i in range(8)]
    for pacer in pacers:
        crowd._join(pacer, 0.0)  # type: ignore[arg-type]
    assert [p.phase_s for p in pacers[:5]] == pytest.approx([0, 0.005, 0.010, 0.015, 0])
    for sub in range(1, 4 * 10 + 1):  # ten frames' worth of sub-ticks, on time
        crowd.ticks = sub
        crowd.run_tick(sub * FRAME_S / 4)
    # Each caller sent on its own sub-tick only, once per frame.
    for index, pacer in enumerate(pacers):
        assert len(sent[pacer.name]) == 10, pacer.name
        assert {tick % 4 for tick in sent[pacer.name]} == {index % 4}, pacer.name
    # A late wake-up catches every phase up at once, one frame per missed tick.
    crowd.run_tick(15 * FRAME_S + 0.0001)
    assert all(len(frames) == 15 for frames in sent.values())
