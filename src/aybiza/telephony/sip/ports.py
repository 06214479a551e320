"""RTP ports: the range calls take their ports from (``AYBIZA_RTP_PORTS``), one pair per call.

Each call gets an even port for RTP and the odd port above it for RTCP (RFC 3550 §11), both
bound before the port goes into our SDP. The allocator moves round the range rather than
reusing the port just released, so late packets of an ended call do not reach the next one; a
pair that another process holds is skipped.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass

RTP_PORTS_ENV = "AYBIZA_RTP_PORTS"
DEFAULT_RTP_PORTS = "20000-20999"


class PortRangeError(ValueError):
    """``AYBIZA_RTP_PORTS`` is not a usable range; ``field`` names the setting."""

    field = RTP_PORTS_ENV


class NoRtpPort(Exception):
    """Every port pair of the range is taken: the call cannot get media now."""


@dataclass(frozen=True, slots=True)
class PortRange:
    """Ports ``first`` to ``last`` inclusive."""

    first: int
    last: int

    @classmethod
    def parse(cls, text: str) -> PortRange:
        """Read ``LOW-HIGH`` (e.g. ``20000-20999``)."""
        low, dash, high = text.strip().partition("-")
        if not dash or not low.strip().isdigit() or not high.strip().isdigit():
            raise PortRangeError(
                f"{RTP_PORTS_ENV} must be LOW-HIGH, e.g. 20000-20999; got {text!r}"
            )
        first, last = int(low), int(high)
        if not 1024 <= first < last <= 65535:
            raise PortRangeError(
                f"{RTP_PORTS_ENV} must lie within 1024-65535 with LOW below HIGH; got {text!r}"
            )
        if first + (first % 2) + 1 > last:
            raise PortRangeError(f"{RTP_PORTS_ENV} {text!r} holds no even/odd port pair")
        return cls(first, last)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> PortRange:
        """``AYBIZA_RTP_PORTS`` from ``environ`` (default 20000-20999)."""
        return cls.parse(environ.get(RTP_PORTS_ENV) or DEFAULT_RTP_PORTS)

    @property
    def rtp_ports(self) -> range:
        """The even ports whose odd neighbour is also in the range."""
        return range(self.first + (self.first % 2), self.last, 2)


@dataclass(slots=True)
class RtpSockets:
    """A bound pair: ``rtp`` on ``port``, ``rtcp`` on ``port + 1`` (non-blocking UDP)."""

    port: int
    rtp: socket.socket
    rtcp: socket.socket

    def close(self) -> None:
        """Close both sockets."""
        self.rtp.close()
        self.rtcp.close()


class RtpPortAllocator:
    """Hands out bound RTP/RTCP socket pairs on ``host`` from ``ports`` and takes them back."""

    def __init__(self, ports: PortRange, host: str = "127.0.0.1") -> None:
        self.ports = ports
        self.host = host
        self._family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._in_use: set[int] = set()
        self._cursor = 0

    @property
    def in_use(self) -> int:
        """Pairs handed out and not yet released."""
        return len(self._in_use)

    def bind(self) -> RtpSockets:
        """The next free pair, bound. Raises ``NoRtpPort`` when none is left."""
        candidates = self.ports.rtp_ports
        for step in range(len(candidates)):
            index = (self._cursor + step) % len(candidates)
            port = candidates[index]
            if port in self._in_use:
                continue
            pair = self._try_bind(port)
            if pair is not None:
                self._in_use.add(port)
                self._cursor = index + 1
                return pair
        raise NoRtpPort(
            f"no free RTP port pair in {self.ports.first}-{self.ports.last} on {self.host} "
            f"({len(self._in_use)} calls hold one; widen {RTP_PORTS_ENV})"
        )

    def release(self, port: int) -> None:
        """A call ended: its pair may be handed out again (after the rest of the range)."""
        self._in_use.discard(port)

    def _try_bind(self, port: int) -> RtpSockets | None:
        bound: list[socket.socket] = []
        try:
            for p in (port, port + 1):
                sock = socket.socket(self._family, socket.SOCK_DGRAM)
                bound.append(sock)
                sock.setblocking(False)
                sock.bind((self.host, p))
        except OSError:
            for sock in bound:
                sock.close()
            return None
        return RtpSockets(port, bound[0], bound[1])
