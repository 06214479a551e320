"""What an RTP endpoint's sockets deliver and what it counts: the datagram protocol that hands
each packet (and its source) to the endpoint, and ``MediaCounts``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import structlog

from aybiza.telephony.sip.latch import Address

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class MediaCounts:
    """What the endpoint saw that the other parts do not count themselves."""

    packets_in: int = 0
    malformed: int = 0
    wrong_payload_type: int = 0
    rtcp_in: int = 0
    rtcp_malformed: int = 0
    inbound_dropped: int = 0
    send_errors: int = 0


def address_or_none(host: str | None, port: int) -> Address | None:
    """``(host, port)``, or None when SDP gave no usable address."""
    return (host, port) if host is not None and port else None


class RtpDatagrams(asyncio.DatagramProtocol):
    """One RTP or RTCP socket: each datagram goes to ``receive`` with its source."""

    def __init__(self, receive: Callable[[bytes, Address], None]) -> None:
        self._receive = receive

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        # The loop's own (host, port) tuple, not a copy: this runs for every packet.
        self._receive(data, cast(Address, addr if len(addr) == 2 else addr[:2]))

    def error_received(self, exc: Exception) -> None:
        log.debug("rtp.socket_error", error=str(exc))
