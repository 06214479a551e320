"""RTP packets (RFC 3550 §5.1), the paced sender and symmetric-RTP latching."""

from __future__ import annotations

import itertools
import random
import struct
from collections.abc import Callable

import pytest

from aybiza.telephony.sip.latch import RemoteLatch
from aybiza.telephony.sip.rtp import (
    RtpError,
    RtpExtension,
    RtpPacket,
    RtpSender,
    sequence_delta,
    timestamp_delta,
)

# V=2 P=1 X=1 CC=2 | M=1 PT=8 | seq 0xFFFE | ts 0xFFFFFF00 | SSRC | 2 CSRCs | extension
# (profile 0xBEDE, 1 word) | 3 payload bytes | 4 padding bytes (the last says 4).
FULL_PACKET = (
    bytes([0b1011_0010, 0b1000_1000])
    + struct.pack("!HII", 0xFFFE, 0xFFFFFF00, 0x11223344)
    + struct.pack("!II", 0xAAAA0001, 0xAAAA0002)
    + struct.pack("!HH", 0xBEDE, 1)
    + b"\x10\x20\x30\x40"
    + b"abc"
    + b"\x00\x00\x00\x04"
)


def test_parses_every_header_field() -> None:
    packet = RtpPacket.parse(FULL_PACKET)
    assert packet.marker is True
    assert packet.payload_type == 8
    assert packet.sequence == 0xFFFE
    assert packet.timestamp == 0xFFFFFF00
    assert packet.ssrc == 0x11223344
    assert packet.csrcs == (0xAAAA0001, 0xAAAA0002)
    assert packet.extension == RtpExtension(0xBEDE, b"\x10\x20\x30\x40")
    assert packet.payload == b"abc"
    assert packet.padding == 4


def test_serializing_a_parsed_packet_gives_the_same_bytes() -> None:
    assert RtpPacket.parse(FULL_PACKET).serialize() == FULL_PACKET
    plain = RtpPacket(0, 1, 160, 0xCAFE, b"\xff" * 160)
    wire = plain.serialize()
    assert wire[:2] == b"\x80\x00"
    assert len(wire) == 172
    assert RtpPacket.parse(wire) == plain


def test_the_payload_is_a_view_of_the_datagram_not_a_copy() -> None:
    datagram = RtpPacket(0, 7, 1120, 5, b"\x7f" * 160).serialize()
    payload = RtpPacket.parse(datagram).payload
    assert isinstance(payload, memoryview)
    assert payload.obj is datagram


@pytest.mark.parametrize(
    ("datagram", "field"),
    [
        (b"\x80\x00\x00", "header"),
        (b"\x40" + bytes(11), "version"),
        (b"\x83" + bytes(11) + bytes(8), "csrc"),
        (b"\x90" + bytes(11) + b"\x00\x00", "extension"),
        (b"\x90" + bytes(11) + b"\x00\x00\x00\x02" + bytes(4), "extension"),
        (b"\xa0" + bytes(11) + b"ab\x00", "padding"),
        (b"\xa0" + bytes(11) + b"ab\x09", "padding"),
    ],
)
def test_malformed_datagrams_are_refused_naming_the_field(datagram: bytes, field: str) -> None:
    with pytest.raises(RtpError) as refused:
        RtpPacket.parse(datagram)
    assert refused.value.field == field


def test_sequence_and_timestamp_distances_cross_wraparound() -> None:
    assert sequence_delta(2, 65534) == 4
    assert sequence_delta(65534, 2) == -4
    assert sequence_delta(100, 100) == 0
    assert timestamp_delta(80, 0xFFFFFFB0) == 160
    assert timestamp_delta(0xFFFFFFB0, 80) == -160


class OversleepingClock:
    """A clock whose sleeps always run ``oversleep_s`` long, like a loaded event loop."""

    def __init__(self, oversleep_s: float = 0.003) -> None:
        self.t = 5000.0
        self.oversleep_s = oversleep_s

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += seconds + self.oversleep_s


def capture(into: list[RtpPacket]) -> Callable[[memoryview], None]:
    def transmit(view: memoryview) -> None:
        into.append(RtpPacket.parse(bytes(view)))

    return transmit


async def test_sender_paces_on_a_drift_free_clock_despite_late_wakeups() -> None:
    clock = OversleepingClock(oversleep_s=0.003)
    sent_at: list[float] = []
    sender = RtpSender(lambda view: None, 0, clock=clock, rng=random.Random(1))
    start = clock.now()
    for _ in range(500):
        await sender.next_slot()
        sent_at.append(clock.now() - start)
        sender.send(b"\xff" * 160)
    # Every packet leaves within one oversleep of start + n * 20 ms: late wakeups never add up
    # (sleeping 20 ms each time would put packet 499 about 1.5 s late).
    for n, at in enumerate(sent_at):
        assert n * 0.020 <= at + 1e-9
        assert at <= n * 0.020 + 0.003 + 1e-9


async def test_sender_numbers_packets_from_random_starts_across_wraparound() -> None:
    packets: list[RtpPacket] = []
    rng = random.Random(3)
    sender = RtpSender(capture(packets), 8, clock=OversleepingClock(0), rng=rng)
    sender.sequence = 65533
    sender.first_timestamp = 0xFFFFFFFF - 300
    for _ in range(6):
        await sender.next_slot()
        sender.send(b"\xd5" * 160)
    assert [p.sequence for p in packets] == [65533, 65534, 65535, 0, 1, 2]
    assert all(
        timestamp_delta(b.timestamp, a.timestamp) == 160 for a, b in itertools.pairwise(packets)
    )
    assert {p.ssrc for p in packets} == {sender.ssrc}
    assert {p.payload_type for p in packets} == {8}
    other = RtpSender(lambda view: None, 0)
    assert (other.ssrc, other.sequence, other.first_timestamp) != (
        sender.ssrc,
        sender.sequence,
        sender.first_timestamp,
    )


async def test_marker_bit_marks_the_first_packet_of_each_talkspurt() -> None:
    packets: list[RtpPacket] = []
    sender = RtpSender(capture(packets), 0, clock=OversleepingClock(0), rng=random.Random(4))
    for slot in range(10):
        await sender.next_slot()
        if slot not in (4, 5):  # two slots without a packet: silence between talkspurts
            sender.send(b"\x00" * 160)
    await sender.next_slot()
    sender.send(b"\x00" * 160, marker=True)
    assert [p.marker for p in packets] == [
        True,
        False,
        False,
        False,
        True,
        False,
        False,
        False,
        True,
    ]
    # The silent slots' timestamps were spent: the receiver sees the 40 ms gap.
    assert timestamp_delta(packets[4].timestamp, packets[3].timestamp) == 3 * 160


async def test_a_stalled_sender_skips_missed_slots_instead_of_bursting() -> None:
    packets: list[RtpPacket] = []
    clock = OversleepingClock(0)
    sender = RtpSender(capture(packets), 0, clock=clock, rng=random.Random(5))
    await sender.next_slot()
    sender.send(b"\xff" * 160)
    clock.t += 1.0  # the event loop was blocked for a second
    await sender.next_slot()
    sender.send(b"\xff" * 160)
    assert sender.skipped_slots == 49
    assert timestamp_delta(packets[1].timestamp, packets[0].timestamp) == 50 * 160
    assert packets[1].marker is True
    assert packets[1].sequence == (packets[0].sequence + 1) % 65536


def test_latch_takes_the_signalled_address_at_once() -> None:
    latch = RemoteLatch(("127.0.0.1", 40000))
    assert latch.admit(("127.0.0.1", 40000), ssrc=9, sequence=100, now=0.0)
    assert latch.latched == ("127.0.0.1", 40000)
    assert not latch.admit(("127.0.0.1", 40002), ssrc=9, sequence=101, now=0.02)
    assert latch.dropped == 1


def test_latch_learns_a_natted_source_after_three_consecutive_packets() -> None:
    latch = RemoteLatch(("10.0.0.5", 40000))  # the far end's private address, unreachable
    nat = ("127.0.0.1", 53000)
    assert latch.target == ("10.0.0.5", 40000)
    assert not latch.admit(nat, ssrc=7, sequence=10, now=0.00)
    assert not latch.admit(nat, ssrc=7, sequence=12, now=0.02)  # a gap restarts probation
    assert not latch.admit(nat, ssrc=7, sequence=13, now=0.04)
    assert latch.admit(nat, ssrc=7, sequence=14, now=0.06)
    assert latch.target == nat


def test_latch_ignores_other_sources_once_latched_even_with_the_same_ssrc() -> None:
    latch = RemoteLatch(("127.0.0.1", 40000))
    latch.admit(("127.0.0.1", 40000), ssrc=7, sequence=1, now=0.0)
    intruder = ("127.0.0.1", 41000)
    for n in range(10):
        assert latch.admit(("127.0.0.1", 40000), ssrc=7, sequence=2 + n, now=0.02 * n)
        assert not latch.admit(intruder, ssrc=7, sequence=50 + n, now=0.02 * n)
    assert latch.latched == ("127.0.0.1", 40000)


def test_latch_follows_the_same_ssrc_to_a_new_address_after_the_source_went_quiet() -> None:
    latch = RemoteLatch(("127.0.0.1", 40000))
    latch.admit(("127.0.0.1", 40000), ssrc=7, sequence=1, now=0.0)
    rebound = ("127.0.0.1", 40100)
    # A stranger's SSRC never re-latches, however quiet the source.
    assert not any(latch.admit(rebound, ssrc=8, sequence=s, now=5.0) for s in range(2, 9))
    results = [latch.admit(rebound, ssrc=7, sequence=s, now=5.0) for s in range(2, 5)]
    assert results == [False, False, True]
    assert latch.latched == rebound


def test_latch_learns_again_after_the_far_end_renegotiates() -> None:
    latch = RemoteLatch(("127.0.0.1", 40000))
    latch.admit(("127.0.0.1", 40000), ssrc=7, sequence=1, now=0.0)
    latch.renegotiated(("127.0.0.1", 42000))
    assert latch.admit(("127.0.0.1", 40000), ssrc=7, sequence=2, now=0.02)  # still accepted
    assert latch.admit(("127.0.0.1", 42000), ssrc=99, sequence=500, now=0.04)
    assert latch.latched == ("127.0.0.1", 42000)
    assert not latch.admit(("127.0.0.1", 40000), ssrc=7, sequence=3, now=0.06)
