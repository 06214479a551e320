"""Connections only to addresses the guard checked.

The sender pins a checked target for the task that sends the request (``pinned``); the
connection pool then asks ``PinnedConnector.connect_tcp`` for a connection to the URL's host,
and gets one to a pinned address of that host, never to a fresh DNS answer. A host with no pin
in the current task is never connected to. The URL keeps its host name, so the ``Host`` header,
TLS server name, certificate check and connection reuse all follow the name, while the socket
goes to the address that was checked. Below it, ``network`` opens the sockets (the platform's
default opens any; tests give one that opens loopback connections only).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import httpcore

from aybiza.outbound.addresses import IpAddress
from aybiza.outbound.guard import CheckedTarget, Guard, Refused

# What opens sockets below the pinning (``httpcore.AnyIOBackend`` unless given).
Network = httpcore.AsyncNetworkBackend

_pins: ContextVar[Mapping[str, tuple[IpAddress, ...]] | None] = ContextVar(
    "outbound_pins", default=None
)


@contextmanager
def pinned(target: CheckedTarget) -> Iterator[None]:
    """While inside, connections to ``target.host`` made by this task go to its addresses."""
    token = _pins.set({**(_pins.get() or {}), target.host: target.addresses})
    try:
        yield
    finally:
        _pins.reset(token)


class PinnedConnector(httpcore.AsyncNetworkBackend):
    """Connects to a pinned address of the host asked for, checked against the guard once more
    right before the socket opens; tries the pinned addresses in order until one answers."""

    def __init__(self, guard: Guard, network: Network | None = None) -> None:
        self._guard = guard
        self._network: Network = network if network is not None else httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """A connection to one of ``host``'s checked addresses."""
        addresses = (_pins.get() or {}).get(host.lower())
        if not addresses:
            raise Refused(f"refused to connect to {host}: its address was not checked")
        failure: Exception | None = None
        for address in addresses:
            problem = self._guard.address_refusal(address)
            if problem is not None:
                raise Refused(f"refused to connect to {host}: {problem}")
            try:
                return await self._network.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Never: customers' URLs are TCP only."""
        raise Refused(f"refused to connect to the local socket {path}")

    async def sleep(self, seconds: float) -> None:
        """The pool's own waits."""
        await self._network.sleep(seconds)
