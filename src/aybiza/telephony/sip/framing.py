"""Message boundaries in a TCP or TLS byte stream (RFC 3261 §18.3).

Over a stream every message must carry ``Content-Length``; the framer reads the header block up
to the empty line, takes that many body bytes and hands back the message's bytes for
``message.parse``. CRLF keep-alives between messages (RFC 5626 §3.5.1) are skipped. A framing
error (no or bad Content-Length, a header block or message over the cap) cannot be recovered
from on a stream: ``SipFramingError`` tells the connection to close.
"""

from __future__ import annotations

from aybiza.telephony.sip.headers import canonical_name
from aybiza.telephony.sip.message import MAX_MESSAGE_BYTES
from aybiza.telephony.sip.syntax import WHITESPACE, SipParseError, parse_uint


class SipFramingError(SipParseError):
    """The stream cannot be split into messages any more; close the connection."""


def _content_length(head: bytes) -> int:
    """The Content-Length of a header block, read without parsing the rest of it."""
    found: int | None = None
    for raw in head.split(b"\r\n")[1:]:
        name, colon, value = raw.partition(b":")
        if not colon or raw[:1] in (b" ", b"\t"):
            continue
        text = name.decode("latin-1").rstrip(WHITESPACE)
        if canonical_name(text) != "Content-Length":
            continue
        if found is not None:
            raise SipFramingError("Content-Length: more than one value")
        found = parse_uint(value.decode("latin-1"), "Content-Length", MAX_MESSAGE_BYTES)
    if found is None:
        raise SipFramingError("Content-Length is required on a stream transport")
    return found


class StreamFramer:
    """Feed it received bytes; it returns each complete message's bytes, in order."""

    __slots__ = ("_body_length", "_buffer", "_head_end")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._head_end: int | None = None
        self._body_length = 0

    def feed(self, data: bytes) -> list[bytes]:
        """The messages completed by ``data``; raises ``SipFramingError`` when the stream is
        broken beyond repair."""
        self._buffer += data
        messages: list[bytes] = []
        while True:
            message = self._next()
            if message is None:
                return messages
            messages.append(message)

    @property
    def buffered(self) -> int:
        """Bytes received that do not make a whole message yet."""
        return len(self._buffer)

    def _next(self) -> bytes | None:
        if self._head_end is None:
            # Keep-alive CRLFs (or stray ones) before a message are not part of it.
            start = 0
            while self._buffer.startswith(b"\r\n", start):
                start += 2
            if start:
                del self._buffer[:start]
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_MESSAGE_BYTES:
                    raise SipFramingError(f"no end of header fields in {MAX_MESSAGE_BYTES} bytes")
                return None
            self._body_length = _content_length(bytes(self._buffer[:end]))
            self._head_end = end + 4
            if self._head_end + self._body_length > MAX_MESSAGE_BYTES:
                raise SipFramingError(f"message is over {MAX_MESSAGE_BYTES} bytes", 513)
        total = self._head_end + self._body_length
        if len(self._buffer) < total:
            return None
        message = bytes(self._buffer[:total])
        del self._buffer[:total]
        self._head_end = None
        return message
