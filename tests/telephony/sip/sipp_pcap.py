"""RTP recorded by others: the pcaps that sipp ships (Debian ``sip-tester``).

They are independent captures of real RTP (PCMA in 30 ms packets, RFC 2833/4733 DTMF), so a
test that decodes them checks our parsing against someone else's sender. A test that needs one
skips, naming the install command, when the package is missing; on CI (``CI=true``, where
``.ci/run`` installs it) it fails instead.
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
    """The UDP payloads of a classic-format Ethernet/IPv4 pcap in sipp's directory."""
    path = PCAP_DIR / name
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{INSTALL} (.ci/run installs it on CI)")
        pytest.skip(INSTALL)
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
