"""The caller's earpiece: what Twilio does with the messages the application sends.

Agent ``media`` goes into the playback model, ``mark``s are echoed when their audio has played
(or at once on ``clear``), and every message is recorded with its arrival time so tests and
benchmarks can check the agent's behaviour on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Literal

from websockets.exceptions import ConnectionClosed

from aybiza.simulator import wire
from aybiza.simulator.playback import MarkEcho, TwilioPlayback
from aybiza.simulator.stream_socket import StreamSocket
from aybiza.timeouts import within


@dataclass(frozen=True, slots=True)
class ReceivedEvent:
    """A message from the agent: its kind, arrival (monotonic seconds) and what it carried."""

    kind: Literal["media", "mark", "clear"]
    at: float
    byte_count: int = 0
    mark_name: str | None = None


@dataclass(frozen=True, slots=True)
class SentMarkEcho:
    """A mark echoed back to the agent, when, whether a ``clear`` released it unplayed, and
    when the playback timeline made it due (``at`` is never before it)."""

    name: str
    at: float
    cleared: bool
    due_at: float = 0.0


class Earpiece:
    """Receives the agent's messages for one call and echoes its marks like Twilio."""

    def __init__(self, socket: StreamSocket, opened_at: float) -> None:
        self._socket = socket
        self.playback = TwilioPlayback(opened_at)
        self.received_events: list[ReceivedEvent] = []
        self.marks_sent_back: list[str] = []
        self.mark_echoes: list[SentMarkEcho] = []
        self.clears: list[float] = []
        # Messages Twilio would reject (bad JSON, unknown event, wrong streamSid...).
        self.protocol_errors: list[str] = []
        self.last_media_at = opened_at
        self._marks_changed = asyncio.Event()

    def handle(self, data: str | bytes, now: float) -> wire.AgentMessage | None:
        """Take in one message received at ``now``; return it decoded, or None if malformed."""
        try:
            message = wire.decode(data, self._socket.stream_sid)
        except wire.WireError as exc:
            self.protocol_errors.append(str(exc))
            return None
        if isinstance(message, wire.AgentMedia):
            self.received_events.append(ReceivedEvent("media", now, len(message.payload)))
            self.playback.add_audio(message.payload, now)
            self.last_media_at = now
        elif isinstance(message, wire.AgentMark):
            self.received_events.append(ReceivedEvent("mark", now, mark_name=message.name))
            self.playback.add_mark(message.name, now)
            self._marks_changed.set()
        else:
            self.received_events.append(ReceivedEvent("clear", now))
            self.clears.append(now)
            self.playback.clear(now)
            self._marks_changed.set()
        return message

    async def echo_marks(self) -> None:
        """Run for the whole call: send each mark back when it falls due, in order."""
        with contextlib.suppress(ConnectionClosed):
            while True:
                # Clear before looking, so a mark or clear arriving meanwhile wakes the wait.
                self._marks_changed.clear()
                for mark in self.playback.pop_due_marks(time.monotonic()):
                    await self._echo(mark)
                due = self.playback.next_mark_due()
                wait_s = None if due is None else max(0.0, due - time.monotonic())
                with contextlib.suppress(TimeoutError):
                    await within(self._marks_changed.wait(), wait_s)

    async def _echo(self, mark: MarkEcho) -> None:
        await self._socket.send("mark", wire.mark_body(mark.name))
        self.marks_sent_back.append(mark.name)
        self.mark_echoes.append(
            SentMarkEcho(mark.name, time.monotonic(), mark.cleared, mark.due_at)
        )
