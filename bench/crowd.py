"""Many simulated Twilio callers in one process, at a small fixed cost per caller.

``aybiza.simulator.twilio_client.SimulatedCall`` is one caller with three tasks, a timer every
20 ms, a JSON encode, a base64 encode and a lock per frame: right for tests, too heavy for a
benchmark that must keep hundreds of calls at real-time pace from one core. Here one ``Crowd``
per process holds every caller:

- one ticker task: tick ``k`` is due at ``t0 + k * 20 ms`` (a fixed grid, so a late wake-up is
  caught up, never accumulated); on each tick every live caller sends its next inbound frame
  (speech from its current line, or silence) and echoes the marks whose audio has played;
- the frames' payloads are base64-encoded once per process (``Line``), so a ``media`` message is
  one bytes ``%``-format, byte-identical to ``aybiza.simulator.wire.encode``'s JSON;
- frames go out synchronously, each a masked WebSocket text frame written straight to the
  transport (``ClientFrames``; websockets' own ``protocol.send_text`` + ``send_data``, the path
  its ``broadcast`` takes, costs about 40 % more per frame): nothing awaits between numbering a
  message and writing it, so sequence numbers follow the wire order without a lock;
- one receiving task per caller classifies the agent's messages with a prefix check (``json``
  only for marks, clears and anything unusual) and feeds the playback model and the latency clock.

On the wire this is the same Twilio as ``SimulatedCall``: the signed webhook, the signed
WebSocket upgrade, ``connected``, ``start``, numbered ``media`` every 20 ms with ``chunk`` and
``timestamp``, ``mark`` echoed when the audio before it has played (all at once on ``clear``) and
``stop`` on hang-up. The measurements are the same too (``LatencyClock``, ``ReceivedEvent``).
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import json
import math
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import OPEN

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets without its C extension
    from websockets.utils import apply_mask

from aybiza.audio.codec import FRAME_BYTES, FRAME_MS, SAMPLE_RATE_HZ, SILENCE_BYTE
from aybiza.simulator import webhook, wire
from aybiza.simulator.caller_audio import SILENT_FRAME, last_voiced_frame
from aybiza.simulator.earpiece import ReceivedEvent
from aybiza.simulator.errors import (
    CallEndedError,
    NoStreamError,
)
from aybiza.simulator.latency import CallerTurn, LatencyClock
from aybiza.simulator.stream_socket import open_media_stream
from aybiza.simulator.twilio_client import DEFAULT_CALLER

FRAME_S = FRAME_MS / 1000
# As aybiza.simulator.playback: marks due within this much of "now" are due now.
DUE_TOLERANCE_S = 1e-4
# The ticker never sleeps less than this: a timer shorter than the loop's resolution would spin.
MIN_SLEEP_S = 0.001
SILENCE_PAYLOAD = binascii.b2a_base64(SILENT_FRAME, newline=False)


# ---------------------------------------------------------------- the caller's audio, precomputed


@dataclass(frozen=True, slots=True)
class Line:
    """One scripted utterance, cut into 20 ms frames whose base64 payloads are ready to send."""

    payloads: tuple[bytes, ...]
    # Index of the frame that holds the end of speech: the answer's latency counts from its send.
    last_voiced: int


def prepare_line(mulaw: bytes) -> Line:
    """Pad ``mulaw`` (non-empty μ-law 8 kHz) to whole frames and base64-encode every frame."""
    if not mulaw:
        raise ValueError("a line needs audio")
    frames = -(-len(mulaw) // FRAME_BYTES)
    audio = mulaw + bytes([SILENCE_BYTE]) * (frames * FRAME_BYTES - len(mulaw))
    payloads = tuple(
        binascii.b2a_base64(audio[i : i + FRAME_BYTES], newline=False)
        for i in range(0, len(audio), FRAME_BYTES)
    )
    return Line(payloads, last_voiced_frame(mulaw))


def media_template(stream_sid: str) -> bytes:
    """The ``media`` message of one stream with ``%d`` for sequenceNumber, chunk and timestamp and
    ``%s`` for the payload: key for key what ``wire.encode("media", ...)`` writes."""
    return (
        '{"event":"media","sequenceNumber":"%d","streamSid":"'
        + stream_sid
        + '","media":{"track":"inbound","chunk":"%d","timestamp":"%d","payload":"%s"}}'
    ).encode()


def media_message(template: bytes, sequence_number: int, chunk: int, payload: bytes) -> bytes:
    """Inbound frame ``chunk`` (counted from 1) as message ``sequence_number``."""
    return template % (sequence_number, chunk, chunk * FRAME_MS, payload)


def mark_template(stream_sid: str) -> bytes:
    """The ``mark`` echo of one stream, as ``wire.encode("mark", ...)`` writes it, with ``%d``
    for the sequence number and ``%s`` for the JSON-encoded name."""
    return ('{"event":"mark","sequenceNumber":"%d","streamSid":"' + stream_sid).encode() + (
        b'","mark":{"name":%s}}'
    )


def mark_message(template: bytes, sequence_number: int, name: str) -> bytes:
    """The echo of mark ``name`` as message ``sequence_number``."""
    return template % (sequence_number, json.dumps(name).encode())


# ---------------------------------------------------------------- WebSocket framing


class ClientFrames:
    """Masked text frames as a WebSocket client must send them (RFC 6455 5.2), written straight
    to the transport. websockets' own path (``protocol.send_text`` then ``send_data``) builds a
    Frame object, a BytesIO and asks the OS for each 4-byte masking key; here the keys come from
    ``os.urandom`` 4 KiB at a time. The bytes on the wire have the same layout."""

    __slots__ = ("_at", "_keys")

    def __init__(self) -> None:
        self._keys = b""
        self._at = 0

    def text(self, data: bytes) -> bytes:
        """One final text frame carrying ``data`` (UTF-8), masked with a fresh random key."""
        at = self._at
        if at + 4 > len(self._keys):
            self._keys, at = os.urandom(_MASK_KEYS_BYTES), 0
        key = self._keys[at : at + 4]
        self._at = at + 4
        length = len(data)
        if length < 126:
            head = bytes((0x81, 0x80 | length))
        elif length < 65536:
            head = b"\x81\xfe" + length.to_bytes(2, "big")
        else:
            head = b"\x81\xff" + length.to_bytes(8, "big")
        return head + key + apply_mask(data, key)


_MASK_KEYS_BYTES = 4096
CLIENT_FRAMES = ClientFrames()


# ---------------------------------------------------------------- the shared clock


def tick_index(now: float, t0: float, period_s: float = FRAME_S) -> int:
    """The last tick due at ``now`` on the grid ``t0 + k * period_s`` (-1 before ``t0``). A tick
    counts as due a hair (a millionth of a period) early, so that float rounding of
    ``tick_at(k)`` cannot read as tick ``k - 1``."""
    return math.floor((now - t0) / period_s + 1e-6)


def tick_at(index: int, t0: float, period_s: float = FRAME_S) -> float:
    """When tick ``index`` is due."""
    return t0 + index * period_s


def frames_due(next_tick: int, due_tick: int) -> int:
    """Frames a caller owes at tick ``due_tick`` when its next frame belongs to ``next_tick``:
    one per tick, including the ticks a late wake-up skipped."""
    return max(0, due_tick - next_tick + 1)


# ---------------------------------------------------------------- Twilio's playout, by byte count


class Speaker:
    """The caller's loudspeaker, as ``aybiza.simulator.playback.TwilioPlayback`` models it but
    counting bytes instead of keeping audio: agent audio plays in arrival order at 8000 bytes/s
    (from its arrival when the queue ran dry), a mark is due when the audio queued before it has
    played, a ``clear`` drops the queue and makes every pending mark due at once.

    ``next_due`` is when the first pending mark falls due (tolerance included), infinity when
    none is pending: the ticker compares it with the time for every caller on every tick."""

    __slots__ = ("_end_sample", "_marks", "next_due", "opened_at")

    def __init__(self, opened_at: float) -> None:
        self.opened_at = opened_at
        self._end_sample = 0
        self._marks: deque[tuple[str, int, bool]] = deque()  # name, due sample, cleared
        self.next_due = float("inf")

    def _sample(self, at: float) -> int:
        return max(0, int((at - self.opened_at) * SAMPLE_RATE_HZ))

    def _time(self, sample: int) -> float:
        return self.opened_at + sample / SAMPLE_RATE_HZ

    def _update_next_due(self) -> None:
        if not self._marks:
            self.next_due = float("inf")
        elif self._marks[0][2]:
            self.next_due = float("-inf")
        else:
            self.next_due = self._time(self._marks[0][1]) - DUE_TOLERANCE_S

    def add_audio(self, byte_count: int, now: float) -> None:
        if byte_count:
            self._end_sample = max(self._sample(now), self._end_sample) + byte_count

    def add_mark(self, name: str, now: float) -> None:
        self._marks.append((name, max(self._end_sample, self._sample(now)), False))
        if len(self._marks) == 1:
            self._update_next_due()

    def clear(self, now: float) -> None:
        cut = self._sample(now)
        self._end_sample = min(self._end_sample, cut)
        if self._marks:
            self._marks = deque((name, cut, True) for name, _, _ in self._marks)
            self.next_due = float("-inf")

    def pop_due(self, now: float) -> list[tuple[str, bool]]:
        """Remove and return, in order, the marks due at ``now``: (name, released by clear)."""
        due: list[tuple[str, bool]] = []
        limit = now + DUE_TOLERANCE_S
        marks = self._marks
        while marks and (marks[0][2] or self._time(marks[0][1]) <= limit):
            name, _, cleared = marks.popleft()
            due.append((name, cleared))
        self._update_next_due()
        return due

    def playing_until(self) -> float:
        """When the queued audio will have finished playing."""
        return self._time(self._end_sample)

    @property
    def pending_marks(self) -> int:
        return len(self._marks)


# ---------------------------------------------------------------- one caller


def _media_byte_count(data: str, prefix: str) -> int | None:
    """Bytes of audio in a compact ``media`` message of this stream (the shape AYBIZA sends),
    without a JSON parse; None for any other message or an invalid payload (the full decode then
    reports it)."""
    if not data.startswith(prefix) or not data.endswith('"}}'):
        return None
    try:
        return len(binascii.a2b_base64(data[len(prefix) : -3], strict_mode=True))
    except binascii.Error:
        return None


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Caller:
    """One call in a ``Crowd``: its socket, what it is saying, and what it heard."""

    def __init__(
        self,
        crowd: Crowd,
        ws: ClientConnection,
        *,
        call_sid: str,
        account_sid: str,
        stream_sid: str,
        custom_parameters: Mapping[str, str],
    ) -> None:
        self._crowd = crowd
        self._ws = ws
        self.call_sid = call_sid
        self.account_sid = account_sid
        self.stream_sid = stream_sid
        self.custom_parameters = dict(custom_parameters)
        self.opened_at = time.monotonic()
        self.sequence_number = 0  # of the last numbered message sent
        self.chunk = 0  # of the last media frame sent
        self.next_tick = 0  # the tick (on this caller's own grid) the next frame belongs to
        self.phase_s = 0.0  # this caller's grid: the crowd's, shifted by this much
        self.slot = 0  # which of the crowd's phases
        self._template = media_template(stream_sid)
        self._mark_template = mark_template(stream_sid)
        self._media_prefix = f'{{"event":"media","streamSid":"{stream_sid}","media":{{"payload":"'
        # What the caller says: the line being sent, its next frame, and lines queued after it.
        self._line: Line | None = None
        self._frame = 0
        self._line_sent: asyncio.Future[None] | None = None
        self._queued: deque[tuple[Line, asyncio.Future[None]]] = deque()
        # What the caller hears.
        self.speaker = Speaker(self.opened_at)
        self.latency = LatencyClock()
        self.received_events: list[ReceivedEvent] = []
        self.clears: list[float] = []
        self.marks_sent_back: list[tuple[str, bool]] = []  # name, released by a clear
        self.protocol_errors: list[str] = []
        self.last_media_at = self.opened_at
        self.ended_at: float | None = None
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._hanging_up = False
        self._waiter: asyncio.Future[None] | None = None
        self._receiver = asyncio.create_task(self._receive(), name=f"receive {call_sid}")

    # -- the script's side

    @property
    def ended(self) -> bool:
        """Whether the call is over (hung up, or closed by the server)."""
        return self.ended_at is not None

    @property
    def started_at(self) -> float | None:
        return self.latency.started_at

    @property
    def greeting_latency(self) -> float | None:
        return self.latency.greeting_latency_s

    @property
    def caller_turns(self) -> list[CallerTurn]:
        return list(self.latency.turns)

    @property
    def turn_latencies(self) -> list[float]:
        return [t.latency_s for t in self.latency.turns if t.latency_s is not None]

    def start(self, at: float | None = None) -> None:
        """Send ``start`` (message 1) and join the crowd's ticker; ``at`` overrides the clock."""
        body = wire.start_body(
            stream_sid=self.stream_sid,
            account_sid=self.account_sid,
            call_sid=self.call_sid,
            custom_parameters=self.custom_parameters,
        )
        if not self._send_numbered("start", body):
            return
        started_at = time.monotonic() if at is None else at
        self.latency.stream_started(started_at)
        self._crowd._join(self, started_at)

    async def say(self, line: Line) -> None:
        """Speak ``line`` after anything already queued; return once its last frame was sent."""
        if self.ended_at is not None or self._hanging_up:
            raise CallEndedError(f"call {self.call_sid} is over")
        sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._line is None:
            self._line, self._frame, self._line_sent = line, 0, sent
        else:
            self._queued.append((line, sent))
        self.latency.caller_started()
        await sent

    async def wait_for_agent_audio(self, timeout: float) -> float:  # noqa: ASYNC109
        """Latency of the answer to the caller's latest line (or of the greeting), once its first
        audio arrived. Raises TimeoutError, or CallEndedError if the call ends first."""
        deadline = time.monotonic() + timeout
        while (latency := self.latency.current_answer()) is None:
            if self.ended_at is not None:
                raise CallEndedError("the call ended before the agent answered")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"nothing from the agent within {timeout:g} s")
            await self._wait_change(remaining)
        return latency

    async def wait_until_agent_done(self, *, quiet_ms: int = 1200, timeout: float) -> None:  # noqa: ASYNC109
        """Wait until the agent's queued audio has played and no media came for ``quiet_ms``;
        return at once if the call has ended. Raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while self.ended_at is None:
            now = time.monotonic()
            idle_at = max(self.speaker.playing_until(), self.last_media_at + quiet_ms / 1000)
            if now >= idle_at:
                return
            if now >= deadline:
                raise TimeoutError(f"the agent was still speaking after {timeout:g} s")
            await self._wait_change(min(idle_at, deadline) - now)

    async def hangup(self) -> None:
        """Leave the ticker, send ``stop``, close the socket. Idempotent."""
        if not self._hanging_up:
            self._hanging_up = True
            self._crowd._leave(self)
            if self.ended_at is None:
                body = wire.stop_body(account_sid=self.account_sid, call_sid=self.call_sid)
                self._send_numbered("stop", body)
                await self._ws.close()
        await asyncio.gather(self._receiver, return_exceptions=True)

    # -- the ticker's side (synchronous: nothing may await between numbering and writing)

    def send_frames(self, count: int) -> None:
        """Send the next ``count`` inbound frames (speech or silence), one per tick owed."""
        self.next_tick += count
        ws = self._ws
        if ws.protocol.state is not OPEN:
            return
        write = ws.transport.write
        text_frame = CLIENT_FRAMES.text
        template = self._template
        for _ in range(count):
            sequence_number = self.sequence_number = self.sequence_number + 1
            chunk = self.chunk = self.chunk + 1
            line = self._line
            index = self._frame
            payload = SILENCE_PAYLOAD if line is None else line.payloads[index]
            write(text_frame(template % (sequence_number, chunk, chunk * FRAME_MS, payload)))
            if line is None:
                continue
            if index == line.last_voiced:
                self.latency.caller_stopped("speech", time.monotonic())
                self._notify()
            if index + 1 < len(line.payloads):
                self._frame = index + 1
                continue
            sent = self._line_sent
            if self._queued:
                self._line, self._line_sent = self._queued.popleft()
            else:
                self._line, self._line_sent = None, None
            self._frame = 0
            if sent is not None and not sent.done():
                sent.set_result(None)

    def echo_marks(self, now: float) -> None:
        """Send back the marks due at ``now``, in order."""
        ws = self._ws
        for name, cleared in self.speaker.pop_due(now):
            if ws.protocol.state is not OPEN:
                return
            self.sequence_number += 1
            message = mark_message(self._mark_template, self.sequence_number, name)
            ws.transport.write(CLIENT_FRAMES.text(message))
            self.marks_sent_back.append((name, cleared))

    def _send_numbered(self, event: str, body: Mapping[str, Any]) -> bool:
        ws = self._ws
        if ws.protocol.state is not OPEN:
            return False
        self.sequence_number += 1
        message = wire.encode(event, self.sequence_number, self.stream_sid, body)
        ws.transport.write(CLIENT_FRAMES.text(message.encode()))
        return True

    def _abort(self, error: BaseException) -> None:
        """The ticker could not send: drop the connection; the call ends (counted dropped)."""
        self.protocol_errors.append(f"send failed: {type(error).__name__}: {error}")
        self._ws.transport.abort()

    # -- receiving

    def handle(self, data: str | bytes, now: float) -> None:
        """Take in one message from the agent, received at ``now``."""
        byte_count = _media_byte_count(data, self._media_prefix) if type(data) is str else None
        if byte_count is None:
            try:
                message = wire.decode(data, self.stream_sid)
            except wire.WireError as exc:
                self.protocol_errors.append(str(exc))
                return
            if isinstance(message, wire.AgentMark):
                self.received_events.append(ReceivedEvent("mark", now, mark_name=message.name))
                self.speaker.add_mark(message.name, now)
                self._notify()
                return
            if isinstance(message, wire.AgentClear):
                self.received_events.append(ReceivedEvent("clear", now))
                self.clears.append(now)
                self.speaker.clear(now)
                self._notify()
                return
            byte_count = len(message.payload)
        self.received_events.append(ReceivedEvent("media", now, byte_count))
        self.speaker.add_audio(byte_count, now)
        self.last_media_at = now
        self.latency.agent_audio(now)
        self._notify()

    async def _receive(self) -> None:
        try:
            with contextlib.suppress(ConnectionClosed):
                async for data in self._ws:
                    self.handle(data, time.monotonic())
        finally:
            self.close_code = self._ws.close_code
            self.close_reason = self._ws.close_reason
            self.ended_at = time.monotonic()
            self._crowd._leave(self)
            ended = CallEndedError("the call ended before the caller finished")
            for sent in [self._line_sent, *(s for _, s in self._queued)]:
                if sent is not None and not sent.done():
                    sent.set_exception(ended)
            self._line, self._line_sent = None, None
            self._queued.clear()
            self._notify()

    def _notify(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _wait_change(self, wait_s: float) -> None:
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(wait_s, _wake, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None


# ---------------------------------------------------------------- the crowd


class Crowd:
    """Every caller of this process and the one ticker that paces them all.

    ``async with Crowd() as crowd: caller = await crowd.dial(...)``."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient | None = None,
        open_timeout_s: float = 10.0,
        phases: int = 1,
    ):
        self._own_http = http is None
        self._http = http or httpx.AsyncClient(
            timeout=15.0,
            # A few webhook connections are reused; close them before uvicorn's 5 s keep-alive
            # timeout does, so a request never races the server closing its connection.
            limits=httpx.Limits(max_keepalive_connections=8, keepalive_expiry=2.0),
        )
        self._open_timeout_s = open_timeout_s
        if not 1 <= phases <= 20:
            raise ValueError(f"phases must be 1 to 20, got {phases}")
        # Callers are spread over ``phases`` evenly spaced offsets within the 20 ms frame, as
        # independent calls are: with one phase every caller's frame leaves in the same
        # instant, and the server under test gets all of them in one burst every 20 ms.
        self._phases = phases
        self._sub_s = FRAME_S / phases
        self._slots: list[dict[Caller, None]] = [{} for _ in range(phases)]  # ordered sets
        self._snapshots: list[tuple[Caller, ...]] = [() for _ in range(phases)]
        self._next_slot = 0
        self._handled = -1  # the last sub-tick handled
        self.t0 = time.monotonic()
        self.ticks = 0  # ticks handled (a late wake-up handles the ticks it skipped at once)
        self.late_frames = 0  # frames sent to catch up after a late wake-up
        self._ticker: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Crowd:
        self.t0 = time.monotonic()
        self._ticker = asyncio.create_task(self.run_ticker(), name="crowd ticker")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for caller in [caller for slot in self._slots for caller in slot]:
            await caller.hangup()
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        if self._own_http:
            await self._http.aclose()

    @property
    def live(self) -> int:
        return sum(len(slot) for slot in self._slots)

    async def dial(
        self,
        base_url: str,
        *,
        to: str,
        from_: str = DEFAULT_CALLER,
        auth_token: str | None = None,
    ) -> Caller:
        """Ring ``to`` like Twilio: the signed webhook, then the TwiML's stream with ``connected``
        and ``start``; the caller then sends a frame on every tick. A server that closes the
        stream at once gives a caller already ``ended``."""
        call_sid = webhook.new_call_sid()
        account_sid = webhook.new_account_sid()
        form = webhook.incoming_call_form(
            call_sid=call_sid, account_sid=account_sid, from_=from_, to=to
        )
        answer = await webhook.post_incoming_call(
            base_url, form, auth_token=auth_token, client=self._http
        )
        if answer.stream_url is None:
            raise NoStreamError(answer.twiml, answer.spoken)
        url = webhook.stream_connect_url(answer.stream_url, base_url)
        signature = webhook.sign(auth_token, answer.stream_url) if auth_token else None
        ws = await open_media_stream(url, signature=signature, open_timeout_s=self._open_timeout_s)
        caller = Caller(
            self,
            ws,
            call_sid=call_sid,
            account_sid=account_sid,
            stream_sid=webhook.new_stream_sid(),
            custom_parameters=answer.custom_parameters,
        )
        caller.start()
        return caller

    def _join(self, caller: Caller, started_at: float) -> None:
        slot = self._next_slot
        self._next_slot = (slot + 1) % self._phases
        caller.slot = slot
        caller.phase_s = slot * self._sub_s
        caller.next_tick = tick_index(started_at - caller.phase_s, self.t0) + 1
        self._slots[slot][caller] = None
        self._snapshots[slot] = tuple(self._slots[slot])

    def _leave(self, caller: Caller) -> None:
        slot = self._slots[caller.slot]
        if caller in slot:
            del slot[caller]
            self._snapshots[caller.slot] = tuple(slot)

    def run_tick(self, now: float) -> int:
        """Everything due at ``now`` for the phases whose sub-tick came since the last call:
        each of their callers' owed frames, then its due marks. Returns the sub-tick handled
        (with one phase, the tick)."""
        due_sub = tick_index(now, self.t0, self._sub_s)
        # The phases whose sub-tick came since the last call (each at most once), and at least
        # the current one: called again within a sub-tick, it still echoes marks fallen due.
        first = min(max(self._handled + 1, due_sub - self._phases + 1), due_sub)
        for sub in range(first, due_sub + 1):
            for caller in self._snapshots[sub % self._phases]:
                try:
                    owed = tick_index(now - caller.phase_s, self.t0) - caller.next_tick + 1
                    if owed > 0:
                        if owed > 1:
                            self.late_frames += owed - 1
                        caller.send_frames(owed)
                    if caller.speaker.next_due <= now:
                        caller.echo_marks(now)
                except Exception as exc:
                    caller._abort(exc)
        self._handled = max(self._handled, due_sub)
        return due_sub

    async def run_ticker(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """The ticker: wake on the grid, send what is due, sleep until the next grid point
        (never "20 ms from now", so a late wake-up does not shift the ones after it).

        A wake-up before the next tick is due (uvloop's timers count whole milliseconds from the
        loop's cached clock, so they may fire a little early) does nothing and sleeps again, at
        least ``MIN_SLEEP_S`` so that it does not spin."""
        t0, period = self.t0, self._sub_s
        handled = -1
        while True:
            now = clock()
            if tick_index(now, t0, period) != handled:
                handled = self.run_tick(now)
                self.ticks += 1
            delay = tick_at(handled + 1, t0, period) - clock()
            await sleep(delay if delay > MIN_SLEEP_S else MIN_SLEEP_S)
