"""RTP recorded by others: the pcaps that sipp ships (Debian ``sip-tester``).

They are independent captures of real RTP (PCMA in 30 ms packets, RFC 2833/4733 DTMF), so a
test that decodes them checks our parsing against someone else's sender. A test that needs one
skips, naming the install command, when the package is missing; on CI (``CI=true``, where
``.ci/run`` installs it) it fails instead.

``write_rtp_pcap`` goes the other way: it writes our own μ-law audio (synthesized speech) as a
pcap of RTP that sipp's ``play_pcap_audio`` plays into a call.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest

PCAP_DIR = Path("/usr/share/sip-tester")
INSTALL = "sipp's pcaps are missing: apt-get install -y sip-tester"
_LINKTYPE_ETHERNET = 1
_ETHERTYPE_IPV4 = 0x0800
_UDP = 17


@dataclass(frozen=True, slots=True)
class Captured:
    """One captured UDP datagram and when it was captured (seconds)."""

    at: float
    payload: bytes


def udp_payloads(name: str) -> list[Captured]:
    """The UDP payloads of a pcap in sipp's directory."""
    path = PCAP_DIR / name
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{INSTALL} (.ci/run installs it on CI)")
        pytest.skip(INSTALL)
    return read_udp_payloads(path)


def read_udp_payloads(path: Path) -> list[Captured]:
    """The UDP payloads of a classic-format Ethernet/IPv4 pcap."""
    name = path.name
    data = path.read_bytes()
    magic = data[:4]
    order = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">"}[magic]
    (link,) = struct.unpack_from(order + "I", data, 20)
    assert link == _LINKTYPE_ETHERNET, f"{name}: link type {link}"
    captured = []
    offset = 24
    while offset + 16 <= len(data):
        seconds, micros, length, _ = struct.unpack_from(order + "IIII", data, offset)
        frame = data[offset + 16 : offset + 16 + length]
        offset += 16 + length
        if struct.unpack_from("!H", frame, 12)[0] != _ETHERTYPE_IPV4 or frame[23] != _UDP:
            continue
        udp = 14 + (frame[14] & 0x0F) * 4
        (udp_length,) = struct.unpack_from("!H", frame, udp + 4)
        captured.append(Captured(seconds + micros / 1e6, frame[udp + 8 : udp + udp_length]))
    return captured


# ---------------------------------------------------------------------------- writing

_PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, _LINKTYPE_ETHERNET)
_FRAME_MS = 20
_FRAME_BYTES = 160


def _ipv4_checksum(header: bytes) -> int:
    total: int = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _frame(payload: bytes, port: int) -> bytes:
    """``payload`` in UDP in IPv4 (127.0.0.1 to itself) in Ethernet. sipp replays the UDP
    payload from its media port to the far end's SDP address, so these addresses are never
    used as a destination."""
    udp = struct.pack("!HHHH", port, port, 8 + len(payload), 0) + payload
    loopback = bytes([127, 0, 0, 1])
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, _UDP, 0,
                         loopback, loopback)  # fmt: skip
    header = header[:10] + struct.pack("!H", _ipv4_checksum(header)) + header[12:]
    return bytes(6) + bytes(6) + struct.pack("!H", _ETHERTYPE_IPV4) + header + udp


def write_rtp_pcap(path: Path, mulaw: bytes, *, ssrc: int = 0x5EED5A11, port: int = 6000) -> None:
    """Write μ-law audio as a classic pcap of RTP (PCMU, payload type 0, 20 ms packets, one
    capture every 20 ms) that sipp's ``play_pcap_audio`` replays at its recorded pace."""
    records = [_PCAP_HEADER]
    for index, offset in enumerate(range(0, len(mulaw), _FRAME_BYTES)):
        chunk = mulaw[offset : offset + _FRAME_BYTES].ljust(_FRAME_BYTES, b"\xff")
        rtp = struct.pack("!BBHII", 0x80, (0x80 if index == 0 else 0), (1000 + index) & 0xFFFF,
                          index * _FRAME_BYTES, ssrc) + chunk  # fmt: skip
        frame = _frame(rtp, port)
        micros = index * _FRAME_MS * 1000
        records.append(struct.pack("<IIII", micros // 1_000_000, micros % 1_000_000,
                                   len(frame), len(frame)) + frame)  # fmt: skip
    path.write_bytes(b"".join(records))
