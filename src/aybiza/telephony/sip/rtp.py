"""RTP (RFC 3550): the packet, and the sender that numbers and paces one outgoing stream.

``RtpPacket.parse`` reads the header with ``struct.unpack_from`` straight from the datagram and
gives the payload as a ``memoryview`` slice of it: nothing is copied on receive. ``RtpSender``
writes each packet into one buffer it owns, so sending copies only the payload into it.
"""

from __future__ import annotations

import asyncio
import random
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from aybiza.telephony.sip.media_error import MediaFormatError

RTP_VERSION = 2
HEADER_BYTES = 12
MAX_PAYLOAD_BYTES = 1400  # fits one Ethernet frame with IP, UDP and RTP headers
_HEADER = struct.Struct("!BBHII")
_EXTENSION_HEADER = struct.Struct("!HH")
_SEQ_MOD = 1 << 16
_TS_MOD = 1 << 32
_SEQ_HALF = _SEQ_MOD // 2
_TS_HALF = _TS_MOD // 2


class RtpError(MediaFormatError):
    """A datagram is not a valid RTP packet; ``field`` names the part that is wrong."""


@dataclass(frozen=True, slots=True)
class RtpExtension:
    """A header extension (RFC 3550 §5.3.1): a profile-defined id and whole 32-bit words."""

    profile: int
    data: bytes | memoryview


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet. ``padding`` is the number of padding bytes (0: none)."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes | memoryview = b""
    marker: bool = False
    csrcs: tuple[int, ...] = ()
    extension: RtpExtension | None = None
    padding: int = 0

    @classmethod
    def parse(cls, data: bytes | memoryview) -> RtpPacket:
        """Read a datagram; the payload (and extension data) are views of ``data``."""
        size = len(data)
        if size < HEADER_BYTES:
            raise RtpError(f"an RTP header is 12 bytes; the datagram has {size}", "header")
        first, second, sequence, timestamp, ssrc = _HEADER.unpack_from(data)
        if first >> 6 != RTP_VERSION:
            raise RtpError(f"RTP version must be 2, got {first >> 6}", "version")
        view = memoryview(data)
        offset = HEADER_BYTES + 4 * (first & 0x0F)
        if offset > size:
            raise RtpError(f"{first & 0x0F} CSRCs do not fit in {size} bytes", "csrc")
        csrcs = struct.unpack_from(f"!{first & 0x0F}I", data, HEADER_BYTES)
        extension = None
        if first & 0x10:
            if offset + 4 > size:
                raise RtpError("the header extension is cut short", "extension")
            profile, words = _EXTENSION_HEADER.unpack_from(data, offset)
            start, offset = offset + 4, offset + 4 + 4 * words
            if offset > size:
                raise RtpError(f"a {words}-word header extension does not fit", "extension")
            extension = RtpExtension(profile, view[start:offset])
        end = size
        padding = 0
        if first & 0x20:
            padding = data[-1]
            if padding == 0 or offset + padding > size:
                raise RtpError(f"padding of {padding} bytes is impossible here", "padding")
            end -= padding
        return cls(
            payload_type=second & 0x7F,
            sequence=sequence,
            timestamp=timestamp,
            ssrc=ssrc,
            payload=view[offset:end],
            marker=bool(second & 0x80),
            csrcs=csrcs,
            extension=extension,
            padding=padding,
        )

    def serialize(self) -> bytes:
        """The packet as sent on the wire."""
        if not 0 <= self.payload_type <= 127:
            raise RtpError(f"payload type must be 0-127, got {self.payload_type}", "payload_type")
        if len(self.csrcs) > 15:
            raise RtpError(f"at most 15 CSRCs, got {len(self.csrcs)}", "csrc")
        if not 0 <= self.padding <= 255:
            raise RtpError(f"padding must be 0-255 bytes, got {self.padding}", "padding")
        first = RTP_VERSION << 6 | len(self.csrcs)
        first |= 0x20 if self.padding else 0
        first |= 0x10 if self.extension is not None else 0
        out = bytearray(
            _HEADER.pack(
                first,
                (0x80 if self.marker else 0) | self.payload_type,
                self.sequence % _SEQ_MOD,
                self.timestamp % _TS_MOD,
                self.ssrc,
            )
        )
        out += struct.pack(f"!{len(self.csrcs)}I", *self.csrcs)
        if self.extension is not None:
            if len(self.extension.data) % 4:
                raise RtpError("header extension data must be whole 32-bit words", "extension")
            out += _EXTENSION_HEADER.pack(self.extension.profile, len(self.extension.data) // 4)
            out += self.extension.data
        out += self.payload
        if self.padding:
            out += bytes(self.padding - 1) + bytes([self.padding])
        return bytes(out)


def sequence_delta(newer: int, older: int) -> int:
    """Signed distance between two 16-bit sequence numbers, across wraparound."""
    delta = newer - older  # one subtraction in the common case: this runs for every packet
    if delta >= _SEQ_HALF:
        return delta - _SEQ_MOD
    if delta < -_SEQ_HALF:
        return delta + _SEQ_MOD
    return delta


def timestamp_delta(newer: int, older: int) -> int:
    """Signed distance between two 32-bit RTP timestamps, across wraparound."""
    delta = newer - older
    if delta >= _TS_HALF:
        return delta - _TS_MOD
    if delta < -_TS_HALF:
        return delta + _TS_MOD
    return delta


class Clock(Protocol):
    """Time as the sender sees it (injectable, so tests drive it)."""

    def now(self) -> float:
        """Seconds on a monotonic clock."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait about ``seconds``."""
        ...


class MonotonicClock:
    """The event loop's clock (``time.monotonic``) and ``asyncio.sleep``."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class RtpSender:
    """Numbers and paces one outgoing RTP stream on a drift-free clock.

    Slot ``n`` is due at ``start + n * packet_s`` and carries RTP timestamp ``first + n *
    samples``: lateness in one slot is made up in the next, never accumulated. When the sender
    falls more than ``max_late_slots`` behind (the event loop stalled), it skips the missed
    slots instead of bursting them: their timestamps are spent, so the receiver sees a gap.
    SSRC, first sequence number and first timestamp are random (RFC 3550 §5.1). The marker bit
    is set on the first packet after a slot without one (a talkspurt start) or when asked.
    Each packet is written into one buffer the sender reuses: ``transmit`` must hand the view
    to the socket (or copy it) before it returns.
    """

    def __init__(
        self,
        transmit: Callable[[memoryview], None],
        payload_type: int,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        samples_per_packet: int = 160,
        packet_s: float = 0.020,
        max_late_slots: int = 5,
    ) -> None:
        rng = rng if rng is not None else random.SystemRandom()
        self.payload_type = payload_type
        self.ssrc = rng.getrandbits(32)
        self.sequence = rng.getrandbits(16)
        self.first_timestamp = rng.getrandbits(32)
        self.samples_per_packet = samples_per_packet
        self.packet_s = packet_s
        self.packets_sent = 0
        self.octets_sent = 0
        self.skipped_slots = 0
        self._transmit = transmit
        self._clock = clock if clock is not None else MonotonicClock()
        self._max_late_slots = max_late_slots
        self._start: float | None = None
        self._slot = -1
        self._last_sent_slot = -2
        self._buffer = bytearray(HEADER_BYTES + MAX_PAYLOAD_BYTES)
        self._whole = memoryview(self._buffer)
        # A view of the buffer per packet length (160-byte audio, 4-byte events): made once.
        self._views: dict[int, memoryview] = {}

    @property
    def slot(self) -> int:
        """The current slot (-1 before the first)."""
        return self._slot

    @property
    def timestamp(self) -> int:
        """The RTP timestamp of the current slot."""
        return (self.first_timestamp + self._slot * self.samples_per_packet) % _TS_MOD

    def timestamp_at(self, when: float) -> int:
        """The RTP timestamp that corresponds to clock time ``when`` (for sender reports)."""
        start = self._start if self._start is not None else when
        elapsed = round((when - start) / self.packet_s * self.samples_per_packet)
        return (self.first_timestamp + elapsed) % _TS_MOD

    @property
    def next_due(self) -> float | None:
        """When the next slot is due (None before the first: due at once)."""
        if self._start is None:
            return None
        return self._start + (self._slot + 1) * self.packet_s

    def advance(self, now: float) -> float:
        """Make the next slot current at clock time ``now``; returns when it is due (later
        than ``now`` when called early). Slots more than ``max_late_slots`` late are skipped."""
        if self._start is None:
            self._start = now
        self._slot += 1
        due = self._start + self._slot * self.packet_s
        if now - due > self._max_late_slots * self.packet_s:
            # The latest slot already due; the epsilon absorbs float error at exact multiples.
            latest = int((now - self._start) / self.packet_s + 1e-6)
            self.skipped_slots += latest - self._slot
            self._slot = latest
            due = self._start + latest * self.packet_s
        return due

    async def next_slot(self) -> int:
        """Wait until the next slot is due and make it current; returns its number."""
        now = self._clock.now()
        due = self.advance(now)
        if due > now:
            await self._clock.sleep(due - now)
        return self._slot

    def send(
        self,
        payload: bytes | bytearray | memoryview,
        *,
        marker: bool = False,
        payload_type: int | None = None,
        timestamp: int | None = None,
    ) -> None:
        """Send one packet in the current slot (``timestamp`` overrides the slot's, as for a
        telephone event, whose packets all carry its start time)."""
        size = len(payload)
        if size > MAX_PAYLOAD_BYTES:
            raise RtpError(f"payload of {size} bytes exceeds {MAX_PAYLOAD_BYTES}", "payload")
        marker = marker or self._last_sent_slot != self._slot - 1
        pt = self.payload_type if payload_type is None else payload_type
        ts = self.timestamp if timestamp is None else timestamp
        buffer = self._buffer
        _HEADER.pack_into(
            buffer, 0, 0x80, (0x80 if marker else 0) | pt, self.sequence, ts, self.ssrc
        )
        length = HEADER_BYTES + size
        buffer[HEADER_BYTES:length] = payload
        view = self._views.get(length)
        if view is None:
            view = self._views[length] = self._whole[:length]
        self._transmit(view)
        self.sequence = (self.sequence + 1) % _SEQ_MOD
        self.packets_sent += 1
        self.octets_sent += size
        self._last_sent_slot = self._slot
