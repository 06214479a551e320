"""Audio waiting to be sent on a call, with marks between it.

The call loop queues audio of any length and a named mark after each piece; the RTP endpoint
takes one 20 ms frame per slot. A mark becomes due once every byte queued before it has been
taken, which is how the call loop learns what the caller has been sent (Twilio's marks, on
SIP). ``clear`` drops everything at once (barge-in) and says exactly what of each marked
piece never left, so a paused answer can resume from its first unsent byte. Frames that lie
inside one queued chunk are views of it, so taking them copies nothing.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from aybiza.audio.codec import FRAME_BYTES, SAMPLE_RATE_HZ, SILENCE_BYTE


@dataclass(frozen=True, slots=True)
class _Mark:
    name: str


class SendQueue:
    """Queued audio (already in the wire codec) and marks, in order."""

    def __init__(self, *, frame_bytes: int = FRAME_BYTES, silence: int = SILENCE_BYTE) -> None:
        self.frame_bytes = frame_bytes
        self.silence = silence
        self._items: deque[memoryview | _Mark] = deque()
        self._offset = 0  # bytes of the first chunk already taken
        self._queued = 0

    @property
    def queued_ms(self) -> int:
        """Audio waiting to be sent."""
        return self._queued * 1000 // SAMPLE_RATE_HZ

    @property
    def empty(self) -> bool:
        """Nothing queued, neither audio nor marks."""
        return not self._items

    def add_audio(self, data: bytes) -> None:
        """Queue audio after everything queued so far."""
        if data:
            self._items.append(memoryview(data))
            self._queued += len(data)

    def add_mark(self, name: str) -> None:
        """Queue a mark: due once all audio queued before it has been taken."""
        self._items.append(_Mark(name))

    def clear(self) -> list[tuple[str, int]]:
        """Drop everything queued; returns each mark dropped, in order, with the bytes of the
        audio queued between the mark before it and itself that were never sent (the rest of
        a chunk partly sent counts only its unsent part)."""
        dropped: list[tuple[str, int]] = []
        unsent = -self._offset
        for item in self._items:
            if isinstance(item, _Mark):
                dropped.append((item.name, unsent))
                unsent = 0
            else:
                unsent += len(item)
        self._items.clear()
        self._offset = self._queued = 0
        return dropped

    def recode(self, table: bytes, silence: int) -> None:
        """Translate the queued audio to another codec (a re-INVITE changed it)."""
        self._items = deque(
            item if isinstance(item, _Mark) else memoryview(item.tobytes().translate(table))
            for item in self._items
        )
        self.silence = silence

    def take_frame(self) -> tuple[memoryview | bytes | None, tuple[str, ...]]:
        """The next frame (padded with silence where the audio runs out) and the marks that
        are due once it has been sent; (None, marks) when no audio is queued. A frame inside
        one chunk is a view of it, and with no mark due nothing else is made: this runs for
        every packet sent."""
        marks = self._due_marks()
        if not self._items:
            return None, marks
        size = self.frame_bytes
        head = self._items[0]
        if isinstance(head, memoryview) and len(head) - self._offset >= size:
            frame: memoryview | bytes = head[self._offset : self._offset + size]
            self._consume(head, size)
            after = self._due_marks()
            return frame, (marks + after if marks and after else marks or after)
        names = list(marks)
        out = bytearray()
        while self._items and len(out) < size:
            item = self._items[0]
            if isinstance(item, _Mark):
                names.append(item.name)
                self._items.popleft()
                continue
            piece = item[self._offset : self._offset + size - len(out)]
            out += piece
            self._consume(item, len(piece))
        out += bytes([self.silence]) * (size - len(out))
        return bytes(out), (*names, *self._due_marks())

    def _consume(self, chunk: memoryview, size: int) -> None:
        self._offset += size
        self._queued -= size
        if self._offset == len(chunk):
            self._items.popleft()
            self._offset = 0

    def _due_marks(self) -> tuple[str, ...]:
        if not self._items or not isinstance(self._items[0], _Mark):
            return ()
        marks = []
        while self._items:
            head = self._items[0]
            if not isinstance(head, _Mark):
                break
            self._items.popleft()
            marks.append(head.name)
        return tuple(marks)
