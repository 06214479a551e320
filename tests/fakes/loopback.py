"""The only network the tests' requests to "customers' URLs" get: loopback.

``LoopbackOnlyNetwork`` sits where the platform's sender opens sockets; it opens TCP connections
to 127.0.0.0/8 and ::1 and refuses any other address (or a name, which would need DNS) before a
socket exists, recording it in ``refused``. So even with the SSRF guard broken, no test sends a
byte to a private, link-local or public address. ``StubResolver`` stands in for DNS, so a test can
map a name to a loopback address (and change the answer between questions: DNS rebinding).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import httpcore

from aybiza.outbound.addresses import IpAddress
from aybiza.outbound.guard import Guard
from aybiza.outbound.sender import Sender

LOOPBACK_CIDRS = ("127.0.0.0/8", "::1/128")
# The same, as ``Settings.outbound_allow_cidrs`` holds it.
LOOPBACK_NETWORKS = tuple(ipaddress.ip_network(cidr) for cidr in LOOPBACK_CIDRS)


class NonLoopbackConnect(AssertionError):
    """A test tried to connect somewhere other than loopback."""


class LoopbackOnlyNetwork(httpcore.AsyncNetworkBackend):
    """Opens loopback connections only; everything asked for is recorded."""

    def __init__(self) -> None:
        self._real = httpcore.AnyIOBackend()
        self.connected: list[tuple[str, int]] = []
        self.refused: list[str] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            self.refused.append(host)
            raise NonLoopbackConnect(f"the test network refused {host}:{port}: loopback only")
        self.connected.append((host, port))
        return await self._real.connect_tcp(
            host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.refused.append(path)
        raise NonLoopbackConnect(f"the test network refused the socket {path}")

    async def sleep(self, seconds: float) -> None:
        await self._real.sleep(seconds)


class StubResolver:
    """DNS from a table: each name has a list of successive answers (the last one repeats);
    ``asked`` records every question. A name not in the table does not resolve."""

    def __init__(self, answers: Mapping[str, Sequence[Sequence[str]]]) -> None:
        self._answers = {name: [list(answer) for answer in seq] for name, seq in answers.items()}
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int) -> Sequence[IpAddress]:
        self.asked.append(host)
        answers = self._answers.get(host)
        if not answers:
            raise OSError(f"stub resolver: {host} is not known")
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        return [ipaddress.ip_address(text) for text in answer]


def loopback_sender(
    *, allow: Sequence[str] = LOOPBACK_CIDRS, resolver: StubResolver | None = None
) -> tuple[Sender, LoopbackOnlyNetwork]:
    """A sender whose sockets can only reach loopback, with the given allow-list (the default
    allows loopback; ``()`` is the platform's default, refusing it)."""
    network = LoopbackOnlyNetwork()
    return Sender(Guard(allow, resolver=resolver), network=network), network
