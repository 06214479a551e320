"""One simulated Twilio caller of a ``bench.crowd.Crowd``: the script's side (start, say, wait
for the agent, hang up), the ticker's side (its frames and mark echoes, sent synchronously), and
what it hears (the agent's messages into the playout model and the latency clock)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import OPEN

from aybiza.audio.codec import FRAME_MS
from aybiza.simulator import wire
from aybiza.simulator.earpiece import ReceivedEvent
from aybiza.simulator.errors import CallEndedError
from aybiza.simulator.latency import CallerTurn, LatencyClock
from bench.twilio_messages import (
    SILENCE_PAYLOAD,
    Line,
    mark_message,
    mark_template,
    media_byte_count,
    media_template,
)
from bench.twilio_speaker import Speaker
from bench.ws_frames import CLIENT_FRAMES

if TYPE_CHECKING:
    from bench.crowd import Crowd


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
        byte_count = media_byte_count(data, self._media_prefix) if type(data) is str else None
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
