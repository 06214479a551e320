"""RTCP (RFC 3550 §6): sender and receiver reports, source descriptions and BYE.

RTCP travels in compound packets (§6.1): a report first, then an SDES with the sender's CNAME,
then anything else (a BYE last). ``parse_compound`` checks a datagram as Appendix A.2 asks
(version 2, a report first, padding only on the last packet, lengths that add up) and returns
its packets; types we do not use (APP, XR ...) come back as ``OtherRtcp``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aybiza.telephony.sip.media_error import MediaFormatError

SR, RR, SDES, BYE = 200, 201, 202, 203
SDES_CNAME = 1
NTP_UNIX_OFFSET_S = 2_208_988_800  # 1900-01-01 to 1970-01-01
_HEADER = struct.Struct("!BBH")
_SENDER_INFO = struct.Struct("!IQIII")  # SSRC, NTP, RTP timestamp, packets, octets
_BLOCK = struct.Struct("!IIIIII")


class RtcpError(MediaFormatError):
    """A datagram is not a valid RTCP compound packet; ``field`` names what is wrong."""


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """Reception of one source (§6.4.1). ``fraction_lost`` is in 1/256ths since the previous
    report, ``jitter`` in timestamp units, ``last_sr`` the middle 32 bits of the NTP time of
    that source's last SR (0: none yet), ``delay_since_last_sr`` in 1/65536 s."""

    ssrc: int
    fraction_lost: int = 0
    cumulative_lost: int = 0
    highest_sequence: int = 0
    jitter: int = 0
    last_sr: int = 0
    delay_since_last_sr: int = 0


@dataclass(frozen=True, slots=True)
class SenderReport:
    """SR: what the sender sent (``ntp_timestamp`` is 64-bit NTP time), plus report blocks."""

    ssrc: int
    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    """RR: report blocks from a participant that has not sent RTP lately."""

    ssrc: int
    reports: tuple[ReportBlock, ...] = ()


@dataclass(frozen=True, slots=True)
class SdesChunk:
    """Items (type, text) describing one source."""

    ssrc: int
    items: tuple[tuple[int, bytes], ...]

    @property
    def cname(self) -> str | None:
        """The canonical name (CNAME), if the chunk has one."""
        for kind, text in self.items:
            if kind == SDES_CNAME:
                return text.decode("utf-8", "replace")
        return None


@dataclass(frozen=True, slots=True)
class SourceDescription:
    """SDES: one chunk per source."""

    chunks: tuple[SdesChunk, ...]


@dataclass(frozen=True, slots=True)
class Bye:
    """BYE: these sources leave the session."""

    sources: tuple[int, ...]
    reason: str = ""


@dataclass(frozen=True, slots=True)
class OtherRtcp:
    """A packet type this endpoint does not act on, kept as received."""

    packet_type: int
    count: int
    body: bytes


RtcpPacket = SenderReport | ReceiverReport | SourceDescription | Bye | OtherRtcp


def ntp_timestamp(unix_time_s: float) -> int:
    """64-bit NTP time (seconds since 1900 in 32.32 fixed point)."""
    return round((unix_time_s + NTP_UNIX_OFFSET_S) * (1 << 32)) & 0xFFFF_FFFF_FFFF_FFFF


def ntp_middle(ntp: int) -> int:
    """The middle 32 bits of an NTP time, as LSR carries it (16.16 fixed point)."""
    return (ntp >> 16) & 0xFFFF_FFFF


def round_trip_s(block: ReportBlock, arrival_ntp: int) -> float | None:
    """Round-trip time from a report block about our stream (§6.4.1): arrival - LSR - DLSR,
    in 1/65536 s. On a short path rounding can make it a few units negative: that is 0. None
    when the block has no LSR or the result is impossible (over 10 ms negative)."""
    if not block.last_sr:
        return None
    units = ntp_middle(arrival_ntp) - block.last_sr - block.delay_since_last_sr
    units = (units + 0x8000_0000) % 0x1_0000_0000 - 0x8000_0000
    if units < -655:
        return None
    return max(0, units) / 65536


def _parse_blocks(body: bytes | memoryview, offset: int, count: int) -> tuple[ReportBlock, ...]:
    if offset + count * _BLOCK.size > len(body):
        raise RtcpError(f"{count} report blocks do not fit in the packet", "report")
    blocks = []
    for n in range(count):
        ssrc, loss, highest, jitter, lsr, dlsr = _BLOCK.unpack_from(body, offset + n * 24)
        cumulative = loss & 0xFFFFFF
        cumulative -= 1 << 24 if cumulative & 0x800000 else 0
        blocks.append(ReportBlock(ssrc, loss >> 24, cumulative, highest, jitter, lsr, dlsr))
    return tuple(blocks)


def _parse_sdes(body: bytes, count: int) -> SourceDescription:
    chunks, offset = [], 0
    for _ in range(count):
        if offset + 4 > len(body):
            raise RtcpError("an SDES chunk is cut short", "sdes")
        (ssrc,) = struct.unpack_from("!I", body, offset)
        offset += 4
        items = []
        while offset < len(body) and body[offset] != 0:
            if offset + 2 > len(body) or offset + 2 + body[offset + 1] > len(body):
                raise RtcpError("an SDES item is cut short", "sdes")
            kind, size = body[offset], body[offset + 1]
            items.append((kind, bytes(body[offset + 2 : offset + 2 + size])))
            offset += 2 + size
        offset = (offset + 4) & ~3  # the null item ends the chunk, padded to 32 bits
        chunks.append(SdesChunk(ssrc, tuple(items)))
    return SourceDescription(tuple(chunks))


def _parse_bye(body: bytes, count: int) -> Bye:
    if count * 4 > len(body):
        raise RtcpError(f"{count} BYE sources do not fit in the packet", "bye")
    sources = struct.unpack_from(f"!{count}I", body)
    reason = ""
    if count * 4 < len(body):
        size = body[count * 4]
        reason = body[count * 4 + 1 : count * 4 + 1 + size].decode("utf-8", "replace")
    return Bye(sources, reason)


def _parse_one(packet_type: int, count: int, body: bytes) -> RtcpPacket:
    if packet_type == SR:
        if len(body) < _SENDER_INFO.size:
            raise RtcpError("a sender report is cut short", "sr")
        ssrc, ntp, rtp_ts, packets, octets = _SENDER_INFO.unpack_from(body)
        blocks = _parse_blocks(body, _SENDER_INFO.size, count)
        return SenderReport(ssrc, ntp, rtp_ts, packets, octets, blocks)
    if packet_type == RR:
        if len(body) < 4:
            raise RtcpError("a receiver report is cut short", "rr")
        return ReceiverReport(struct.unpack_from("!I", body)[0], _parse_blocks(body, 4, count))
    if packet_type == SDES:
        return _parse_sdes(body, count)
    if packet_type == BYE:
        return _parse_bye(body, count)
    return OtherRtcp(packet_type, count, body)


def parse_compound(data: bytes | memoryview) -> list[RtcpPacket]:
    """The packets of one compound RTCP datagram."""
    data = bytes(data)
    packets: list[RtcpPacket] = []
    offset = 0
    while offset < len(data):
        if offset + 4 > len(data):
            raise RtcpError("a packet header is cut short", "header")
        first, packet_type, words = _HEADER.unpack_from(data, offset)
        end = offset + 4 * (words + 1)
        if first >> 6 != 2:
            raise RtcpError(f"RTCP version must be 2, got {first >> 6}", "version")
        if end > len(data):
            raise RtcpError(f"a packet claims {4 * (words + 1)} bytes past the end", "length")
        if not packets and packet_type not in (SR, RR):
            raise RtcpError(f"a compound packet starts with SR or RR, not {packet_type}", "type")
        body_end = end
        if first & 0x20:
            if end != len(data) or data[end - 1] == 0 or data[end - 1] > end - offset - 4:
                raise RtcpError("padding is only allowed on the last packet", "padding")
            body_end -= data[end - 1]
        packets.append(_parse_one(packet_type, first & 0x1F, data[offset + 4 : body_end]))
        offset = end
    if not packets:
        raise RtcpError("an empty datagram is not RTCP", "header")
    return packets


def _blocks(blocks: Sequence[ReportBlock]) -> bytes:
    out = bytearray()
    for b in blocks:
        lost = max(-0x800000, min(0x7FFFFF, b.cumulative_lost)) & 0xFFFFFF
        out += _BLOCK.pack(
            b.ssrc,
            (min(255, max(0, b.fraction_lost)) << 24) | lost,
            b.highest_sequence & 0xFFFF_FFFF,
            b.jitter & 0xFFFF_FFFF,
            b.last_sr,
            b.delay_since_last_sr & 0xFFFF_FFFF,
        )
    return bytes(out)


def _serialize_one(packet: RtcpPacket) -> bytes:
    if isinstance(packet, SenderReport):
        count, packet_type = len(packet.reports), SR
        body = _SENDER_INFO.pack(
            packet.ssrc,
            packet.ntp_timestamp,
            packet.rtp_timestamp & 0xFFFF_FFFF,
            packet.packet_count & 0xFFFF_FFFF,
            packet.octet_count & 0xFFFF_FFFF,
        ) + _blocks(packet.reports)
    elif isinstance(packet, ReceiverReport):
        count, packet_type = len(packet.reports), RR
        body = struct.pack("!I", packet.ssrc) + _blocks(packet.reports)
    elif isinstance(packet, SourceDescription):
        count, packet_type = len(packet.chunks), SDES
        chunks = bytearray()
        for chunk in packet.chunks:
            chunks += struct.pack("!I", chunk.ssrc)
            for kind, text in chunk.items:
                chunks += bytes([kind, len(text)]) + text[:255]
            chunks += bytes(4 - len(chunks) % 4)  # the null item, padded to 32 bits
        body = bytes(chunks)
    elif isinstance(packet, Bye):
        count, packet_type = len(packet.sources), BYE
        body = struct.pack(f"!{count}I", *packet.sources)
        if packet.reason:
            reason = packet.reason.encode()[:255]
            body += bytes([len(reason)]) + reason
            body += bytes(-len(body) % 4)
    else:
        count, packet_type, body = packet.count, packet.packet_type, packet.body
    if count > 31:
        raise RtcpError(f"at most 31 items in one packet, got {count}", "count")
    if len(body) % 4:
        raise RtcpError("an RTCP packet is whole 32-bit words", "length")
    return _HEADER.pack(0x80 | count, packet_type, len(body) // 4) + body


def serialize_compound(packets: Iterable[RtcpPacket]) -> bytes:
    """One compound datagram."""
    return b"".join(_serialize_one(packet) for packet in packets)


def cname_chunk(ssrc: int, cname: str) -> SourceDescription:
    """The SDES every compound packet carries: our SSRC's CNAME."""
    return SourceDescription((SdesChunk(ssrc, ((SDES_CNAME, cname.encode()[:255]),)),))
