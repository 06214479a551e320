"""``AYBIZA_SIP_LISTEN``: where the SIP edge listens, e.g. ``udp:127.0.0.1:5060,tcp:[::1]:5060``.

Each entry is ``TRANSPORT:HOST:PORT`` (transport ``udp``, ``tcp`` or ``tls``; an IPv6 host in
brackets). An empty setting turns SIP off. A TLS entry needs ``AYBIZA_SIP_TLS_CERT`` and
``AYBIZA_SIP_TLS_KEY``.
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass

LISTEN_ENV = "AYBIZA_SIP_LISTEN"
_TRANSPORTS = ("UDP", "TCP", "TLS")


class ListenError(ValueError):
    """A SIP listen setting that cannot be used; the message names the setting and the fix."""


@dataclass(frozen=True, slots=True)
class ListenAddress:
    """One listener: transport name (UDP, TCP, TLS), IP address and port (0: any free one)."""

    transport: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport.lower()}:{host}:{self.port}"


def _entry(text: str) -> ListenAddress:
    transport, colon, rest = text.partition(":")
    if not colon or transport.upper() not in _TRANSPORTS:
        raise ListenError(
            f"{LISTEN_ENV} entry {text!r} must be TRANSPORT:HOST:PORT with transport udp, tcp "
            "or tls, e.g. udp:127.0.0.1:5060"
        )
    if rest.startswith("["):
        host, bracket, tail = rest[1:].partition("]")
        port_text = tail[1:] if bracket and tail.startswith(":") else ""
    else:
        host, _, port_text = rest.rpartition(":")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ListenError(
            f"{LISTEN_ENV} entry {text!r}: {host!r} is not an IP address (write IPv6 in "
            "brackets, e.g. udp:[::1]:5060)"
        ) from None
    if not port_text.isdigit() or int(port_text) > 65535:
        raise ListenError(f"{LISTEN_ENV} entry {text!r}: the port must be 0-65535")
    return ListenAddress(transport.upper(), host, int(port_text))


def parse_listen(text: str) -> tuple[ListenAddress, ...]:
    """The listeners of ``text`` (comma separated); () when empty. Raises ``ListenError``."""
    entries = [part.strip() for part in text.split(",") if part.strip()]
    addresses = tuple(_entry(entry) for entry in entries)
    seen = {(a.transport, a.host, a.port) for a in addresses}
    if len(seen) != len(addresses):
        raise ListenError(f"{LISTEN_ENV} names the same listener twice: {text!r}")
    return addresses


def tls_context(cert: str | None, key: str | None) -> ssl.SSLContext:
    """The server context of a TLS listener. Raises ``ListenError`` naming what is missing."""
    if not cert or not key:
        raise ListenError(
            f"a tls entry in {LISTEN_ENV} needs AYBIZA_SIP_TLS_CERT and AYBIZA_SIP_TLS_KEY "
            "(PEM files)"
        )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ListenError(
            f"AYBIZA_SIP_TLS_CERT/AYBIZA_SIP_TLS_KEY could not be loaded: {exc}"
        ) from exc
    return context
