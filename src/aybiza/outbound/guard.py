"""The SSRF guard: whether a URL may be called, decided once per request.

``Guard.check`` resolves the URL's host once and refuses it when any of its addresses is refused
(``aybiza.outbound.addresses``) and not on the operator's allow-list; the sender then connects to
those very addresses (``aybiza.outbound.connector``), so a second DNS answer cannot swap in an
internal address between the check and the connection (DNS rebinding). ``Guard.url_problem`` is
the check made when a URL is configured: the URL's form and a host that is a literal refused
address or a local name, without DNS.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx

from aybiza.outbound.addresses import (
    AllowList,
    IpAddress,
    IpNetwork,
    address_problem,
    is_local_name,
    literal_address,
    refusal_hint,
)


class Refused(Exception):
    """The target may not be called; the message says why and what the operator can do."""


class Unresolvable(Exception):
    """The host has no address now (no such name, or the resolver failed): not a refusal,
    since a later attempt may succeed."""


class Resolver(Protocol):
    """Turns a host name into addresses (tests give a stub; the platform uses the system's)."""

    async def resolve(self, host: str, port: int) -> Sequence[IpAddress]:
        """Every address of ``host``; raises ``OSError`` when it has none."""
        ...


class SystemResolver:
    """The operating system's resolver (``getaddrinfo``), run off the event loop."""

    async def resolve(self, host: str, port: int) -> Sequence[IpAddress]:
        """Every address of ``host``, in the resolver's order, without repeats."""
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses: list[IpAddress] = []
        for _family, _type, _proto, _name, sockaddr in infos:
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            if address not in addresses:
                addresses.append(address)
        return addresses


@dataclass(frozen=True, slots=True)
class CheckedTarget:
    """A URL that passed the guard, and the addresses it may be connected to."""

    url: httpx.URL
    host: str
    port: int
    addresses: tuple[IpAddress, ...]


class Guard:
    """Refuses non-public targets unless ``allow`` names their network."""

    def __init__(
        self, allow: Iterable[IpNetwork | str] = (), *, resolver: Resolver | None = None
    ) -> None:
        self.allow = AllowList.of(allow)
        self._resolver: Resolver = resolver if resolver is not None else SystemResolver()

    def address_refusal(self, address: IpAddress) -> str | None:
        """Why ``address`` may not be connected to, or None."""
        if self.allow.allows(address):
            return None
        return address_problem(address)

    def url_problem(self, url: str) -> str | None:
        """Why ``url`` may not be configured, or None; no DNS (the send-time check resolves).
        Refused: anything but an absolute http(s) URL, a host that is a literal refused address,
        and ``localhost``/``.localhost``/``.local``/``.internal`` names."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError):
            return "expected an absolute http:// or https:// URL"
        if parsed.scheme not in ("http", "https") or not parsed.host:
            return "expected an absolute http:// or https:// URL"
        host = parsed.host
        address = literal_address(host)
        if address is not None:
            problem = self.address_refusal(address)
        elif is_local_name(host) and not self.allow.allows_local_name(host):
            problem = f"{host} is a local name"
        else:
            problem = None
        return None if problem is None else f"{problem}: {refusal_hint()}"

    async def check(self, url: str | httpx.URL) -> CheckedTarget:
        """Resolve ``url``'s host once and return the addresses to connect to; raises
        ``Refused`` for a URL that is not http(s) or a host with any refused address (one bad
        answer among good ones is still refused), ``Unresolvable`` for a host without
        addresses."""
        try:
            parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise Refused(f"{url!r} is not a valid URL: {exc}") from exc
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise Refused(f"{str(url)!r} is not an absolute http:// or https:// URL")
        host = parsed.raw_host.decode("ascii").lower()
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        addresses = await self._addresses(host, port)
        for address in addresses:
            problem = self.address_refusal(address)
            if problem is not None:
                raise Refused(f"refused to call {parsed.host}: {problem}; {refusal_hint()}")
        return CheckedTarget(url=parsed, host=host, port=port, addresses=tuple(addresses))

    async def check_host(self, host: str, port: int) -> tuple[IpAddress, ...]:
        """Resolve a host that is not in a URL (a SIP gateway) once; raises ``Refused`` when
        any address is refused, ``Unresolvable`` when it has none."""
        addresses = await self._addresses(host.lower(), port)
        for address in addresses:
            problem = self.address_refusal(address)
            if problem is not None:
                raise Refused(f"refused to reach {host}: {problem}; {refusal_hint()}")
        return tuple(addresses)

    async def _addresses(self, host: str, port: int) -> list[IpAddress]:
        literal = literal_address(host)
        if literal is not None:
            return [literal]
        try:
            addresses = list(await self._resolver.resolve(host.rstrip("."), port))
        except (OSError, UnicodeError) as exc:  # UnicodeError: a label the codec refuses
            raise Unresolvable(f"cannot resolve {host}: {exc}") from exc
        if not addresses:
            raise Unresolvable(f"{host} has no addresses")
        return addresses
