"""SSRF guard for outbound requests made on a tenant's behalf (HTTP tools, workflow steps).

The URL's host is resolved once; if any address it resolves to is private, loopback,
link-local, multicast, reserved, unspecified or otherwise not globally routable, the request is
refused. The request is then sent to the checked address itself (the connection is pinned:
the URL carries the IP, ``Host`` and TLS SNI carry the name), so a second DNS answer cannot
swap in an internal address between the check and the connection (DNS rebinding).
The operator may allow private targets (``AYBIZA_ALLOW_PRIVATE_TOOL_URLS=1``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any

import httpx

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedDestination(Exception):
    """The URL may not be called; the message says why (it goes back to the model)."""


def address_problem(address: IpAddress) -> str | None:
    """Why a connection to ``address`` is refused, or None when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    checks = (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
    )
    for label, hit in checks:
        if hit:
            return f"{address} is a {label} address"
    if not address.is_global:
        return f"{address} is not a public address"
    return None


@dataclass(frozen=True, slots=True)
class PinnedTarget:
    """Where to send a request: the URL to connect to, and the headers/extensions that keep the
    original host name for HTTP (``Host``) and TLS (SNI and certificate check)."""

    url: httpx.URL
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, Any] = field(default_factory=dict)
    address: str | None = None


async def resolve_target(url: str, *, allow_private: bool) -> PinnedTarget:
    """Check ``url`` and pin it to one checked address.

    Raises RefusedDestination for a URL that is not http(s), a host that does not resolve, or
    (unless ``allow_private``) any non-public address among the host's addresses."""
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise RefusedDestination(f"{url!r} is not an absolute http:// or https:// URL")
    if allow_private:
        return PinnedTarget(url=parsed)
    host = parsed.host
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    addresses = await _addresses(host, port)
    for address in addresses:
        problem = address_problem(address)
        if problem is not None:
            raise RefusedDestination(
                f"refused to call {host}: {problem} (private, loopback, link-local, multicast "
                "and reserved addresses are blocked; the operator can allow them with "
                "AYBIZA_ALLOW_PRIVATE_TOOL_URLS=1)"
            )
    chosen = addresses[0]
    netloc = host if parsed.port is None else f"{host}:{parsed.port}"
    extensions: dict[str, Any] = {"sni_hostname": host} if parsed.scheme == "https" else {}
    return PinnedTarget(
        url=parsed.copy_with(host=str(chosen)),
        headers={"Host": netloc},
        extensions=extensions,
        address=str(chosen),
    )


async def _addresses(host: str, port: int) -> list[IpAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise RefusedDestination(f"cannot resolve {host}: {exc}") from exc
    addresses: list[IpAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise RefusedDestination(f"{host} has no addresses")
    return addresses
