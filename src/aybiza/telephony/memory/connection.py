"""``MemoryMedia``: a carrier's media connection held in memory.

What the agent sends waits in a queue, as in a carrier's playout buffer, until the driver
``play``s it: the audio is then "heard" (appended to ``heard``) and each mark behind it is echoed
to the call loop, exactly as Twilio echoes marks once their audio has played. ``clear`` drops
everything still queued. Time is the driver's: nothing here sleeps, so a whole call runs in
milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from aybiza.audio.codec import SAMPLE_RATE_HZ

# μ-law bytes per millisecond at 8 kHz.
BYTES_PER_MS = SAMPLE_RATE_HZ // 1000


class MarkListener(Protocol):
    def on_mark(self, name: str) -> None: ...


@dataclass(slots=True)
class Sent:
    """One item the agent sent, in order."""

    kind: Literal["media", "mark", "clear"]
    audio: bytes = b""
    mark: str = ""


@dataclass(slots=True)
class MemoryMedia:
    """The ``MediaConnection`` of one in-process call."""

    listener: MarkListener | None = None
    sent: list[Sent] = field(default_factory=list)
    heard: bytearray = field(default_factory=bytearray)
    clears: int = 0
    closed: bool = False
    close_reason: str = ""
    _queue: list[Sent] = field(default_factory=list)

    async def send_media(self, mulaw: bytes) -> None:
        item = Sent("media", audio=mulaw)
        self.sent.append(item)
        self._queue.append(item)

    async def send_mark(self, name: str) -> None:
        item = Sent("mark", mark=name)
        self.sent.append(item)
        self._queue.append(item)

    async def send_clear(self) -> None:
        self.sent.append(Sent("clear"))
        self.clears += 1
        self._queue.clear()

    async def send_digits(self, digits: str) -> bool:
        """No keypad signalling in memory: the caller plays digits as tones."""
        return False

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed, self.close_reason = True, reason

    @property
    def queued_ms(self) -> int:
        """Audio waiting to be played."""
        return sum(len(item.audio) for item in self._queue) // BYTES_PER_MS

    def play(self, ms: int | None = None) -> list[str]:
        """Play up to ``ms`` of queued audio (all of it when None) and echo the marks whose audio
        has played; returns the echoed mark names."""
        budget = None if ms is None else ms * BYTES_PER_MS
        echoed: list[str] = []
        while self._queue:
            item = self._queue[0]
            if item.kind == "mark":
                self._queue.pop(0)
                echoed.append(item.mark)
                if self.listener is not None:
                    self.listener.on_mark(item.mark)
                continue
            if budget is not None and budget <= 0:
                break
            take = len(item.audio) if budget is None else min(budget, len(item.audio))
            self.heard += item.audio[:take]
            if budget is not None:
                budget -= take
            if take < len(item.audio):
                self._queue[0] = Sent("media", audio=item.audio[take:])
                break
            self._queue.pop(0)
        return echoed
