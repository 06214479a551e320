"""Which addresses a customer's URL may lead to: pure rules, no DNS and no sockets.

Only globally routable unicast addresses are reachable by default. Loopback, private, link-local,
multicast, reserved, unspecified, shared (carrier-grade NAT) and other special-purpose addresses
are refused unless the operator's allow-list (``AYBIZA_OUTBOUND_ALLOW_CIDRS``) names them. An IPv4
address carried inside IPv6 (IPv4-mapped, 6to4, NAT64) is judged as the IPv4 address it carries.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOW_VARIABLE = "AYBIZA_OUTBOUND_ALLOW_CIDRS"
# Special-purpose ranges that ``ipaddress`` does not flag as private or reserved.
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598, carrier-grade NAT
_IETF_PROTOCOL = ipaddress.ip_network("192.0.0.0/24")  # RFC 6890
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052, well-known prefix
# Names that never lead to the public internet (RFC 6761 localhost, RFC 6762 mDNS, and
# ``.internal`` reserved for private use by ICANN).
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal")


def embedded_ipv4(address: IpAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (IPv4-mapped, 6to4 or NAT64), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_problem(address: IpAddress) -> str | None:
    """Why ``address`` is refused by default, or None for a globally routable address."""
    inner = embedded_ipv4(address)
    if inner is not None:
        problem = address_problem(inner)
        return None if problem is None else f"{problem} (inside {address})"
    checks = (
        ("an unspecified", address.is_unspecified),
        ("a loopback", address.is_loopback),
        ("a link-local", address.is_link_local),
        ("a multicast", address.is_multicast),
        ("a shared (carrier-grade NAT)", address in _SHARED),
        ("a site-local", isinstance(address, ipaddress.IPv6Address) and address.is_site_local),
        ("a reserved", address.is_reserved or address in _IETF_PROTOCOL),
        ("a private", address.is_private),
    )
    for label, hit in checks:
        if hit:
            return f"{address} is {label} address"
    if not address.is_global:
        return f"{address} is not a public address"
    return None


def literal_address(host: str) -> IpAddress | None:
    """The address a URL's host spells, without DNS: standard IPv4/IPv6 text and the legacy
    IPv4 forms resolvers still accept (``127.1``, ``0x7f.0.0.1``, ``2130706433``)."""
    text = host.strip("[]")
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        pass
    if text and all(c in "0123456789abcdefxABCDEFX." for c in text) and text[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


def is_local_name(host: str) -> bool:
    """Whether ``host`` is a name that only ever means this machine or a private network."""
    name = host.lower().rstrip(".")
    return name == "localhost" or name.endswith(_LOCAL_SUFFIXES)


@dataclass(frozen=True, slots=True)
class AllowList:
    """Networks the operator allows despite the default refusal (empty: none)."""

    networks: tuple[IpNetwork, ...] = ()

    @classmethod
    def of(cls, networks: Iterable[IpNetwork | str]) -> AllowList:
        """From networks or CIDR text (``127.0.0.0/8``; a bare address is one host)."""
        return cls(
            tuple(
                net if not isinstance(net, str) else ipaddress.ip_network(net, strict=False)
                for net in networks
            )
        )

    def allows(self, address: IpAddress) -> bool:
        """Whether ``address`` (or the IPv4 address it carries) is in a listed network."""
        candidates = [address]
        inner = embedded_ipv4(address)
        if inner is not None:
            candidates.append(inner)
        return any(
            candidate.version == net.version and candidate in net
            for candidate in candidates
            for net in self.networks
        )

    def allows_local_name(self, host: str) -> bool:
        """Whether a local name may be configured: ``localhost`` names when loopback is allowed,
        ``.local``/``.internal`` names when some private network is allowed. Where the name
        leads is still checked on every send."""
        name = host.lower().rstrip(".")
        if name == "localhost" or name.endswith(".localhost"):
            return any(self.allows(ipaddress.ip_address(text)) for text in ("127.0.0.1", "::1"))
        return any(
            not net.network_address.is_loopback and not net.network_address.is_global
            for net in self.networks
        )


def refusal_hint() -> str:
    """What an operator can do about a refusal, appended to every refusal message."""
    return (
        "requests to loopback, private, link-local, multicast and reserved addresses are "
        f"refused unless the operator allows their network in {ALLOW_VARIABLE}"
    )
