"""DTMF as RFC 4733 telephone events: the payload, a receiver and a sender.

An event is carried by a series of RTP packets that all share the RTP timestamp of its start:
the first with the marker bit, updates every 20 ms with a growing ``duration``, and an end
packet (E bit) sent three times (§2.5.1.4) so that one loss does not hide the end. The receiver
therefore reports a digit once per (SSRC, timestamp), whatever the sequence numbers: our sender
gives each packet its own sequence number (RFC 3550 numbers every packet), while some senders
(sipp's packaged pcaps) repeat one for the three end packets; both are understood.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from dataclasses import dataclass

from aybiza.telephony.sip.media_error import MediaFormatError

DIGITS = "0123456789*#ABCD"  # event codes 0-15 (RFC 4733 §3.2); 16 is flash
_PAYLOAD = struct.Struct("!BBH")
_MAX_DURATION = 0xFFFF


class DtmfError(MediaFormatError):
    """A telephone event or digit is not valid; ``field`` names what is wrong."""


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """One telephone-event payload: ``volume`` in -dBm0 (0-63), ``duration`` in timestamp
    units since the event's start."""

    event: int
    end: bool = False
    volume: int = 10
    duration: int = 0

    @classmethod
    def parse(cls, data: bytes | memoryview) -> TelephoneEvent:
        """Read a payload (the first event if several are packed)."""
        if len(data) < 4 or len(data) % 4:
            raise DtmfError(f"a telephone event is 4 bytes, got {len(data)}", "payload")
        event, flags, duration = _PAYLOAD.unpack_from(data)
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)

    def serialize(self) -> bytes:
        """The 4-byte payload."""
        if not 0 <= self.event <= 255:
            raise DtmfError(f"event must be 0-255, got {self.event}", "event")
        if not 0 <= self.volume <= 63:
            raise DtmfError(f"volume must be 0-63 (-dBm0), got {self.volume}", "volume")
        if not 0 <= self.duration <= _MAX_DURATION:
            raise DtmfError(f"duration must be 0-65535, got {self.duration}", "duration")
        return _PAYLOAD.pack(self.event, (0x80 if self.end else 0) | self.volume, self.duration)

    @property
    def digit(self) -> str | None:
        """The keypad digit, or None for other events (flash, tones)."""
        return DIGITS[self.event] if self.event < len(DIGITS) else None


def event_code(digit: str) -> int:
    """The event code of a keypad digit (``0-9``, ``*``, ``#``, ``A-D``)."""
    code = DIGITS.find(digit.upper()) if len(digit) == 1 else -1
    if code < 0:
        raise DtmfError(f"a DTMF digit is one of 0-9, *, #, A-D; got {digit!r}", "digit")
    return code


@dataclass(slots=True)
class _Seen:
    event: int
    ended: bool
    end_timestamp: int


class DtmfReceiver:
    """Turns one call's telephone-event packets into digits, each exactly once.

    A digit is reported on the first packet of its event that arrives (start, update or end),
    so a lost start or lost end packets do not lose it. An event longer than the 16-bit
    duration field allows arrives as segments with new timestamps and no marker bit
    (§2.5.1.3); a segment that continues the previous, unended event is not a new digit."""

    def __init__(self, *, remembered: int = 32) -> None:
        self.malformed = 0
        self._remembered = remembered
        self._seen: OrderedDict[tuple[int, int], _Seen] = OrderedDict()
        self._last: dict[int, _Seen] = {}

    def receive(
        self, ssrc: int, timestamp: int, marker: bool, payload: bytes | memoryview
    ) -> str | None:
        """The digit this packet starts, or None (an update, a repeat, not a digit)."""
        try:
            event = TelephoneEvent.parse(payload)
        except DtmfError:
            self.malformed += 1
            return None
        key = (ssrc, timestamp)
        seen = self._seen.get(key)
        end_timestamp = (timestamp + event.duration) % (1 << 32)
        if seen is not None:
            seen.ended = seen.ended or event.end
            seen.end_timestamp = end_timestamp
            return None
        previous = self._last.get(ssrc)
        continues = (
            previous is not None
            and not marker
            and not previous.ended
            and previous.event == event.event
            and previous.end_timestamp == timestamp
        )
        seen = _Seen(event.event, event.end, end_timestamp)
        self._seen[key] = seen
        self._last[ssrc] = seen
        if len(self._seen) > self._remembered:
            self._seen.popitem(last=False)
        return None if continues else event.digit


@dataclass(frozen=True, slots=True)
class EventPacket:
    """One telephone-event packet to send: its payload, marker bit and RTP timestamp."""

    payload: bytes
    marker: bool
    timestamp: int


class DtmfSender:
    """Plays queued digits as telephone events, one packet per 20 ms slot.

    Each digit is ``tone_ms`` of event (start packet with the marker bit, then updates), its
    end packet three times, then ``gap_ms`` with no event (the stream's audio resumes)."""

    def __init__(
        self,
        *,
        tone_ms: int = 100,
        gap_ms: int = 60,
        volume: int = 10,
        packet_ms: int = 20,
        clock_rate_hz: int = 8000,
    ) -> None:
        self._step = clock_rate_hz * packet_ms // 1000
        self._tone_slots = max(1, tone_ms // packet_ms)
        self._gap_slots = gap_ms // packet_ms
        self._volume = volume
        self._queue: list[int] = []
        self._slot = 0
        self._start = 0

    @property
    def busy(self) -> bool:
        """Whether a digit is being sent (or waits)."""
        return bool(self._queue)

    def press(self, digits: str) -> None:
        """Queue digits to send, in order; nothing is queued when one is not a digit."""
        codes = [event_code(digit) for digit in digits]
        self._queue.extend(codes)

    def clear(self) -> None:
        """Drop queued digits (the one being sent finishes with its end packets)."""
        del self._queue[1 if self._slot else 0 :]

    def next_packet(self, timestamp: int) -> EventPacket | None:
        """The packet for the slot whose RTP timestamp is ``timestamp``; None in the gap
        between digits (send audio then)."""
        if not self._queue:
            return None
        slot = self._slot
        if slot == 0:
            self._start = timestamp
        self._slot += 1
        tone = self._tone_slots
        if slot >= tone + 2:  # the end packet went three times: the gap
            if slot >= tone + 2 + self._gap_slots - 1:
                self._queue.pop(0)
                self._slot = 0
            return None
        duration = min((min(slot, tone - 1) + 1) * self._step, _MAX_DURATION)
        event = TelephoneEvent(self._queue[0], slot >= tone - 1, self._volume, duration)
        return EventPacket(event.serialize(), slot == 0, self._start)
