"""``SipEdge``: this server's SIP listeners and user agent, built from the settings
(``AYBIZA_SIP_LISTEN``, ``AYBIZA_SIP_PUBLIC_ADDRESS``, ``AYBIZA_RTP_PORTS``, TLS files) and
run for the app's lifetime."""

from __future__ import annotations

import ipaddress
import secrets
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from aybiza.config import Settings
from aybiza.outbound.guard import Guard
from aybiza.store.database import Database
from aybiza.store.models import PhoneNumber
from aybiza.telephony.carrier import CallIntake
from aybiza.telephony.sip.digest import NonceIssuer
from aybiza.telephony.sip.gateway_health import GatewayHealth
from aybiza.telephony.sip.listen import ListenAddress, ListenError, parse_listen, tls_context
from aybiza.telephony.sip.ports import PortRange, RtpPortAllocator
from aybiza.telephony.sip.registration import Registrations
from aybiza.telephony.sip.trunk_gate import TrunkGate
from aybiza.telephony.sip.user_agent import SipUserAgent

log = structlog.get_logger(__name__)


@dataclass
class SipEdge:
    """The running SIP edge: its user agent and the gateways' keep-alives."""

    agent: SipUserAgent
    health: GatewayHealth
    registrations: Registrations

    async def close(self) -> None:
        await self.registrations.stop()
        await self.health.stop()
        await self.agent.close()


def _wildcard(host: str) -> bool:
    return ipaddress.ip_address(host).is_unspecified


def media_address(settings: Settings, listeners: tuple[ListenAddress, ...]) -> str:
    """The address our SDP names for RTP. Raises ``ListenError`` when SIP listens on every
    interface and no public address says which one callers reach."""
    if settings.sip_public_address:
        return settings.sip_public_address
    host = listeners[0].host
    if _wildcard(host):
        raise ListenError(
            f"AYBIZA_SIP_LISTEN listens on {host}: set AYBIZA_SIP_PUBLIC_ADDRESS to the address "
            "callers reach (it goes into Contact and SDP)"
        )
    return host


async def start_sip(
    settings: Settings,
    intake: CallIntake,
    database: Database,
    password_of: Callable[[PhoneNumber], str | None],
    guard: Guard,
    flush: Callable[[], Awaitable[None]],
) -> SipEdge | None:
    """Listen as ``AYBIZA_SIP_LISTEN`` says; None when it is empty. Raises ``ListenError`` with
    the fix when a listener cannot start."""
    listeners = parse_listen(settings.sip_listen)
    if not listeners:
        return None
    address = media_address(settings, listeners)
    server_ssl: ssl.SSLContext | None = None
    if any(listener.transport == "TLS" for listener in listeners):
        server_ssl = tls_context(settings.sip_tls_cert, settings.sip_tls_key)
    bind_host = listeners[0].host
    allocator = RtpPortAllocator(PortRange.parse(settings.rtp_ports), host=bind_host)
    gate = TrunkGate(database, password_of, NonceIssuer(secrets.token_bytes(32)), realm=address)
    agent = SipUserAgent(
        intake,
        gate,
        allocator,
        guard,
        media_address=address,
        public_host=settings.sip_public_address,
        flush=flush,
        failover_s=settings.sip_failover_s,
        ring_timeout_s=settings.sip_ring_timeout_s,
        rtp_timeout_s=settings.rtp_timeout_s,
    )
    for listener in listeners:
        try:
            await agent.endpoint.listen(
                listener.transport,
                listener.host,
                listener.port,
                server_ssl=server_ssl if listener.transport == "TLS" else None,
                client_ssl=ssl.create_default_context() if listener.transport == "TLS" else None,
            )
        except OSError as exc:
            await agent.endpoint.close()
            raise ListenError(
                f"SIP cannot listen on {listener}: {exc.strerror or exc}. Set AYBIZA_SIP_LISTEN "
                "to a free address (e.g. udp:127.0.0.1:5062), or to nothing to turn SIP off"
            ) from exc
        log.info("sip.listening", listener=str(listener), media_address=address)
    health = GatewayHealth(agent, database, interval_s=settings.sip_options_interval_s)
    agent.gateway_order = health.order
    health.start()
    registrations = Registrations(agent, database, password_of)
    registrations.start()
    return SipEdge(agent, health, registrations)
