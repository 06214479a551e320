"""Placing the simulated SIP caller's call: where to send the INVITE, from which address, and
the INVITE transaction up to its 2xx (answering one digest challenge when given credentials).

A URI names the host as an IP address or a name (resolved once, as a softphone configured with
a proxy address would; no RFC 3263 SRV lookup), the port (5060 by default) and the transport
(``;transport=tcp``; UDP by default). The caller's own address is the local address that
routes to that host: loopback for a server on loopback.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

from aybiza.simulator.errors import SimulatorError
from aybiza.telephony.sip.call import ALLOW, SDP
from aybiza.telephony.sip.dialing import (
    InviteAttempt,
    TrunkCredentials,
    cancel_for,
    with_credentials,
)
from aybiza.telephony.sip.endpoint import SipEndpoint
from aybiza.telephony.sip.headers import CSeq, NameAddr, new_tag
from aybiza.telephony.sip.message import Request, Response
from aybiza.telephony.sip.ports import RtpSockets
from aybiza.telephony.sip.syntax import SipParseError
from aybiza.telephony.sip.transport import DEFAULT_PORTS, Peer
from aybiza.telephony.sip.uri import SipUri, parse_uri

SIP_OPTION = "--sip"
_TRANSPORTS = ("UDP", "TCP")


class SipCallError(SimulatorError):
    """The SIP call could not be placed; ``status`` is the SIP status that refused it, if any."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class SipTarget:
    """Where the INVITE goes: its Request-URI, the peer it is sent to, and the caller's own
    address on the way there."""

    uri: SipUri
    peer: Peer
    local_host: str


def parse_target(text: str) -> SipUri:
    """Read ``--sip``: a ``sip:`` URI over UDP or TCP. Raises ``SipCallError`` naming it."""
    try:
        uri = parse_uri(text.strip(), SIP_OPTION)
    except SipParseError as exc:
        raise SipCallError(
            f"{SIP_OPTION}: {exc.reason}; expected e.g. sip:+15005550006@127.0.0.1:5060"
        ) from exc
    if not isinstance(uri, SipUri):
        raise SipCallError(
            f"{SIP_OPTION} must be a sip: URI, e.g. sip:+15005550006@127.0.0.1:5060; got {text!r}"
        )
    transport = uri.transport or "UDP"
    if uri.secure or transport not in _TRANSPORTS:
        raise SipCallError(
            f"{SIP_OPTION}: the simulated caller speaks SIP over UDP or TCP "
            f"(;transport=tcp); got {'sips' if uri.secure else transport.lower()} in {text!r}"
        )
    return uri


def _local_address_for(host: str, port: int) -> str:
    """The local address the kernel would send from to reach ``host`` (no packet is sent)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.connect((host, port))
        return str(probe.getsockname()[0])


async def resolve_target(text: str) -> SipTarget:
    """Parse ``--sip`` and find the peer and the local address. Raises ``SipCallError``."""
    uri = parse_target(text)
    transport = uri.transport or "UDP"
    port = uri.port or DEFAULT_PORTS[transport]
    host = uri.host.strip("[]")
    try:
        address = str(ipaddress.ip_address(host))
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        except OSError as exc:
            raise SipCallError(f"{SIP_OPTION}: cannot resolve {host!r}: {exc}") from exc
        address = str(infos[0][4][0])
    try:
        local = _local_address_for(address, port)
    except OSError as exc:
        raise SipCallError(f"{SIP_OPTION}: no route to {address}: {exc}") from exc
    return SipTarget(uri, Peer(transport, address, port), local)


def bind_rtp_pair(host: str, attempts: int = 64) -> RtpSockets:
    """An even RTP port and the odd RTCP port above it on ``host``, both free (the kernel
    picks among its ephemeral ports). Raises ``SipCallError`` when no pair could be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(attempts):
        rtp = socket.socket(family, socket.SOCK_DGRAM)
        rtp.bind((host, 0))
        port = int(rtp.getsockname()[1])
        if port % 2 == 0 and port < 65535:
            rtcp = socket.socket(family, socket.SOCK_DGRAM)
            try:
                rtcp.bind((host, port + 1))
            except OSError:
                rtcp.close()
            else:
                rtp.setblocking(False)
                rtcp.setblocking(False)
                return RtpSockets(port, rtp, rtcp)
        rtp.close()
    raise SipCallError(f"could not bind an RTP/RTCP port pair on {host}")


def caller_invite(
    endpoint: SipEndpoint, target: SipTarget, *, call_id: str, from_number: str, offer: bytes
) -> Request:
    """The INVITE of a call to ``target`` from ``from_number`` with the SDP ``offer``; its
    Contact is this endpoint's listener for the target's transport."""
    transport = endpoint.transport(target.peer.transport)
    sent_by = transport.sent_by
    params: dict[str, str | None] = {} if target.peer.transport == "UDP" else {"transport": "tcp"}
    invite = Request(
        method="INVITE",
        uri=target.uri,
        via=[transport.via()],
        from_=NameAddr(SipUri(target.local_host, user=from_number)).with_tag(new_tag()),
        to=NameAddr(target.uri),
        call_id=call_id,
        cseq=CSeq(1, "INVITE"),
        contact=[NameAddr(SipUri(sent_by.host, "caller", sent_by.port, params=params))],
        body=offer,
    )
    for name, value in (("Allow", ALLOW), ("User-Agent", "aybiza-call"), ("Content-Type", SDP)):
        invite.headers.add(name, value)
    return invite


async def place_invite(
    endpoint: SipEndpoint,
    target: SipTarget,
    invite: Request,
    credentials: TrunkCredentials | None,
    timeout_s: float,
) -> tuple[InviteAttempt, Response]:
    """Send ``invite`` and wait for its 2xx; returns the attempt that got it (the INVITE as
    finally sent) and the response. A 401/407 is answered once with ``credentials``. Raises
    ``SipCallError`` on a refusal or when nothing final comes within ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    peer = target.peer
    authenticated = False
    while True:
        attempt = InviteAttempt(invite, peer)
        attempt.transaction = endpoint.send_request(
            invite, peer, on_response=attempt.on_response, on_failure=attempt.on_failure
        )
        response = await _final_response(endpoint, attempt, deadline, timeout_s)
        if 200 <= response.status < 300:
            return attempt, response
        if response.status in (401, 407) and not authenticated:
            if credentials is None:
                raise SipCallError(
                    f"{peer.host}:{peer.port} asks for digest authentication (SIP "
                    f"{response.status}): pass --sip-username and --sip-password",
                    response.status,
                )
            via = endpoint.transport(peer.transport).via()
            retry = with_credentials(invite, response, credentials, via)
            if retry is not None:
                invite, authenticated = retry, True
                continue
        raise SipCallError(
            f"the server refused the call: SIP {response.status} {response.reason}",
            response.status,
        )


async def _final_response(
    endpoint: SipEndpoint, attempt: InviteAttempt, deadline: float, timeout_s: float
) -> Response:
    peer = attempt.peer
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        response = await attempt.next(max(remaining, 0.0))
        if response is None:
            if attempt.provisional:
                endpoint.send_request(
                    cancel_for(attempt.request),
                    peer,
                    on_response=lambda _: None,
                    on_failure=lambda _: None,
                )
                raise SipCallError(f"the call was not answered within {timeout_s:g} s")
            attempt.abandon()
            raise SipCallError(
                f"no SIP response from {peer.transport.lower()}:{peer.host}:{peer.port} within "
                f"{timeout_s:g} s: is the server running with AYBIZA_SIP_LISTEN set to that "
                "address? (`aybiza serve --sip-listen udp:127.0.0.1:5060`)"
            )
        if response.status >= 200:
            return response
