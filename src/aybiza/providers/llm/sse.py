"""An incremental reader of server-sent events (``text/event-stream``), fed raw network chunks.

Follows the WHATWG HTML standard's "interpreting an event stream": lines end with CRLF, LF or CR
(also when a CRLF is split between two chunks); one leading byte-order mark is dropped; a line
starting with ``:`` is a comment; ``field: value`` loses one space after the colon; ``data``
lines accumulate, joined with LF; ``event`` names the event (``message`` when absent); a blank
line dispatches the event, or only resets the name when no ``data`` came; ``id``, ``retry`` and
unknown fields are ignored (no reader here reconnects). An event not ended by a blank line when
the stream ends is never dispatched.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One dispatched event: its ``data`` and its ``event`` name."""

    data: str
    event: str = "message"


class SseDecoder:
    """Turns byte chunks, cut anywhere, into ``ServerSentEvent``s; one decoder per stream."""

    __slots__ = ("_at_start", "_data", "_event", "_pending", "_skip_lf")

    def __init__(self) -> None:
        self._pending = b""  # the start of a line whose end has not arrived
        self._skip_lf = False  # the last chunk ended with CR: an LF opening the next is its pair
        self._at_start = True
        self._data: list[str] = []
        self._event = ""

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """The events completed by ``chunk``, in order."""
        if not chunk:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        buffer = self._pending + chunk if self._pending else chunk
        if b"\r" in buffer:
            self._skip_lf = buffer[-1:] == b"\r"
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        end = buffer.rfind(b"\n")
        if end < 0:
            self._pending = buffer
            return []
        self._pending = buffer[end + 1 :]
        # Whole lines only, so a character split between chunks is decoded once complete.
        text = buffer[:end].decode("utf-8", "replace")
        if self._at_start:
            self._at_start = False
            text = text.removeprefix("\ufeff")
        events: list[ServerSentEvent] = []
        for line in text.split("\n"):
            if not line:
                if self._data:
                    events.append(ServerSentEvent("\n".join(self._data), self._event or "message"))
                    self._data = []
                self._event = ""
            elif line[0] != ":":
                name, colon, value = line.partition(":")
                if colon and value[:1] == " ":
                    value = value[1:]
                if name == "data":
                    self._data.append(value)
                elif name == "event":
                    self._event = value
        return events
