"""``aybiza serve`` answering SIP too, for the SIP end-to-end tests: a port free for both UDP
and TCP, and an RTP port range of its own (tests run side by side)."""

from __future__ import annotations

import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aybiza.agents.demo import DEMO_PHONE_NUMBER

from .server_process import RunningServer, free_port, running_server

# Above Linux's ephemeral ports (32768-60999): no kernel-chosen port lands in a range.
RTP_FIRST, RTP_LAST = 61000, 65399
RTP_RANGE_SIZE = 200


def free_sip_port() -> int:
    """A loopback port free for TCP and for UDP a moment ago."""
    for _ in range(50):
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no port free for both UDP and TCP on 127.0.0.1")


def rtp_range_for(sip_port: int) -> str:
    """``AYBIZA_RTP_PORTS`` for a server on ``sip_port``: one of the slices of 61000-65399,
    picked by the port, so servers running side by side rarely share one (and when they do,
    each skips the pairs the other holds)."""
    slices = (RTP_LAST - RTP_FIRST + 1) // RTP_RANGE_SIZE
    first = RTP_FIRST + (sip_port % slices) * RTP_RANGE_SIZE
    return f"{first}-{first + RTP_RANGE_SIZE - 1}"


@dataclass(frozen=True)
class SipServer:
    """A running server and the port its SIP listeners (UDP and TCP) share."""

    server: RunningServer
    sip_port: int

    def uri(self, number: str = DEMO_PHONE_NUMBER, transport: str = "udp") -> str:
        """The SIP URI that reaches ``number`` on this server."""
        suffix = "" if transport == "udp" else f";transport={transport}"
        return f"sip:{number}@127.0.0.1:{self.sip_port}{suffix}"


@contextmanager
def running_sip_server(data_dir: Path, env: Mapping[str, str] | None = None) -> Iterator[SipServer]:
    """``aybiza serve`` with SIP on a free loopback port (UDP and TCP) and its own RTP range."""
    port = free_sip_port()
    sip_env = {
        "AYBIZA_SIP_LISTEN": f"udp:127.0.0.1:{port},tcp:127.0.0.1:{port}",
        "AYBIZA_RTP_PORTS": rtp_range_for(port),
        **(env or {}),
    }
    with running_server(data_dir, sip_env) as server:
        yield SipServer(server, port)
