"""RTCP packets (RFC 3550 §6) and the reception statistics behind report blocks (Appendix A)."""

from __future__ import annotations

import struct

import pytest

from aybiza.telephony.sip.reception import ReceptionStats
from aybiza.telephony.sip.rtcp import (
    Bye,
    OtherRtcp,
    ReceiverReport,
    ReportBlock,
    RtcpError,
    RtcpPacket,
    SdesChunk,
    SenderReport,
    SourceDescription,
    cname_chunk,
    ntp_middle,
    ntp_timestamp,
    parse_compound,
    round_trip_s,
    serialize_compound,
)


def test_a_compound_packet_round_trips_with_every_field() -> None:
    report = SenderReport(
        ssrc=0x01020304,
        ntp_timestamp=ntp_timestamp(1_700_000_000.25),
        rtp_timestamp=0xFFFFFF00,
        packet_count=250,
        octet_count=40_000,
        reports=(
            ReportBlock(0xAABBCCDD, 64, -1, 0x1_0005, 37, 0x12345678, 98304),
            ReportBlock(0x0BADF00D, 0, 1200, 70_000, 0, 0, 0),
        ),
    )
    packets: list[RtcpPacket] = [
        report,
        cname_chunk(0x01020304, "aybiza@127.0.0.1"),
        OtherRtcp(204, 1, b"\x01\x02\x03\x04nameDATA"),
        Bye((0x01020304,), "call ended"),
    ]
    wire = serialize_compound(packets)
    assert wire[:4] == bytes([0x82, 200]) + struct.pack("!H", (4 + 24 + 2 * 24) // 4 - 1)
    assert len(wire) % 4 == 0
    assert parse_compound(wire) == packets
    sdes = parse_compound(wire)[1]
    assert isinstance(sdes, SourceDescription)
    assert sdes.chunks[0].cname == "aybiza@127.0.0.1"


def test_a_receiver_report_matches_its_wire_layout() -> None:
    block = ReportBlock(
        ssrc=0x11111111,
        fraction_lost=0x40,
        cumulative_lost=-1,
        highest_sequence=0x00010002,
        jitter=80,
        last_sr=0xDEADBEEF,
        delay_since_last_sr=0x00018000,
    )
    wire = serialize_compound([ReceiverReport(0x22222222, (block,))])
    expected = (
        bytes([0x81, 201, 0, 7])
        + struct.pack("!I", 0x22222222)
        + struct.pack("!I", 0x11111111)
        + bytes([0x40, 0xFF, 0xFF, 0xFF])
        + struct.pack("!IIII", 0x00010002, 80, 0xDEADBEEF, 0x00018000)
    )
    assert wire == expected
    assert parse_compound(wire) == [ReceiverReport(0x22222222, (block,))]


def test_sdes_chunks_are_null_terminated_and_padded_to_words() -> None:
    for cname in ["a", "ab", "abc", "abcd", "abcde"]:
        chunk = SdesChunk(7, ((1, cname.encode()), (6, b"aybiza")))
        wire = serialize_compound([ReceiverReport(7), SourceDescription((chunk, chunk))])
        assert len(wire) % 4 == 0
        assert parse_compound(wire)[1] == SourceDescription((chunk, chunk))


@pytest.mark.parametrize(
    ("datagram", "field"),
    [
        (b"\x41\xc9\x00\x01" + bytes(4), "version"),
        (bytes([0x81, 202, 0, 1]) + bytes(4), "type"),
        (bytes([0x80, 201, 0, 9]) + bytes(4), "length"),
        (bytes([0xA0, 201, 0, 1]) + bytes(4) + bytes([0x80, 203, 0, 0]), "padding"),
        (bytes([0x81, 201, 0, 1]) + bytes(4), "report"),
        (bytes([0x80, 200, 0, 1]) + bytes(4), "sr"),
        (b"\x80\xc9", "header"),
    ],
)
def test_invalid_compound_packets_are_refused_naming_the_field(datagram: bytes, field: str) -> None:
    with pytest.raises(RtcpError) as refused:
        parse_compound(datagram)
    assert refused.value.field == field


def test_ntp_time_and_round_trip_from_lsr_and_dlsr() -> None:
    assert ntp_timestamp(0.0) == 2_208_988_800 << 32
    assert ntp_timestamp(0.5) & 0xFFFF_FFFF == 1 << 31
    sent = ntp_timestamp(1_000.0)
    # The far end held our SR for 1.5 s before its RR; the RR reached us 1.75 s after the SR.
    block = ReportBlock(1, last_sr=ntp_middle(sent), delay_since_last_sr=int(1.5 * 65536))
    assert round_trip_s(block, ntp_timestamp(1_001.75)) == pytest.approx(0.25, abs=1e-4)
    assert round_trip_s(ReportBlock(1), ntp_timestamp(1_001.75)) is None
    # Rounding on a short path: a hair below zero is zero; far below is impossible.
    hair = ReportBlock(1, last_sr=ntp_middle(sent), delay_since_last_sr=int(0.75 * 65536) + 2)
    assert round_trip_s(hair, ntp_timestamp(1_000.75)) == 0
    impossible = ReportBlock(1, last_sr=ntp_middle(sent), delay_since_last_sr=2 * 65536)
    assert round_trip_s(impossible, ntp_timestamp(1_001.0)) is None


def feed(stats: ReceptionStats, seqs: list[int], *, offsets_ms: list[float] | None = None) -> None:
    """Packet n of ``seqs`` carries timestamp 160 * n and arrives at 20 ms * n (+ offset)."""
    for n, seq in enumerate(seqs):
        offset = offsets_ms[n] if offsets_ms else 0.0
        stats.update(seq % 65536, (160 * n) % 2**32, 0.020 * n + offset / 1000)


def test_a_clean_stream_reports_no_loss_and_no_jitter() -> None:
    stats = ReceptionStats(0xAB, 1000)
    feed(stats, list(range(1000, 1100)))
    block = stats.report_block(now_s=2.0)
    assert (block.fraction_lost, block.cumulative_lost, block.jitter) == (0, 0, 0)
    assert block.highest_sequence == 1099
    assert block.ssrc == 0xAB


def test_loss_is_reported_cumulatively_and_per_interval() -> None:
    stats = ReceptionStats(1, 1000)
    seqs = [s for s in range(1000, 1100) if not 1050 <= s < 1060]
    feed(stats, seqs)
    first = stats.report_block(now_s=2.0)
    # A.1: the first packet is probation, counting starts at 1001: 99 expected, 89 received.
    assert first.cumulative_lost == 10
    assert first.fraction_lost == (10 << 8) // 99
    feed(stats, list(range(1100, 1200)))
    second = stats.report_block(now_s=4.0)
    assert second.fraction_lost == 0
    assert second.cumulative_lost == 10


def test_sequence_wraparound_extends_the_highest_sequence() -> None:
    stats = ReceptionStats(1, 65500)
    feed(stats, list(range(65500, 65536 + 100)))
    block = stats.report_block(now_s=5.0)
    assert block.highest_sequence == 65536 + 99
    assert block.cumulative_lost == 0


def test_a_restarted_source_is_followed_after_two_sequential_packets() -> None:
    stats = ReceptionStats(1, 100)
    feed(stats, list(range(100, 120)))
    assert stats.update(40_000, 0, 1.0) is False  # a wild jump, not yet believed
    assert stats.update(40_001, 160, 1.02) is True  # confirmed: statistics start over
    assert stats.report_block(now_s=1.1).highest_sequence == 40_001


def test_interarrival_jitter_follows_the_a8_estimator() -> None:
    offsets = [0.0 if n % 2 else 10.0 for n in range(200)]  # transit alternates by 10 ms
    stats = ReceptionStats(1, 500)
    feed(stats, list(range(500, 700)), offsets_ms=offsets)
    # Reference: J += (|D| - J) / 16 with |D| = 80 units (10 ms), from the third packet on (the
    # first is probation, the second has no predecessor).
    expected = 0.0
    for _ in range(198 - 1):
        expected += (80 - expected) / 16
    assert stats.jitter == pytest.approx(expected)
    assert stats.report_block(now_s=5.0).jitter == int(expected)


def test_lsr_and_dlsr_come_from_the_last_sender_report() -> None:
    stats = ReceptionStats(1, 0)
    feed(stats, list(range(10)))
    sr_ntp = ntp_timestamp(1_700_000_000.0)
    stats.sender_report(sr_ntp, arrival_s=10.0)
    block = stats.report_block(now_s=10.5)
    assert block.last_sr == ntp_middle(sr_ntp)
    assert block.delay_since_last_sr == 32768
    assert ReceptionStats(2, 0).report_block(now_s=1.0).delay_since_last_sr == 0
