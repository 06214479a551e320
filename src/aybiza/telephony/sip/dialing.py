"""Placing a call through a trunk's gateways (the SIP side of ``POST /v1/calls``).

The INVITE goes to the first gateway. A gateway that stays silent for ``failover_s``, answers
408 or any 5xx (503 included), or cannot be reached, passes the call to the next one in the
trunk's order (RFC 3263 §4.3). A 401/407 is answered once per gateway with the trunk's
credentials (RFC 8760: the strongest algorithm offered). ``place`` returns the call's id as
soon as a gateway takes the call (any provisional response) and the rest of the dialling goes
on in the background: 180 reports ringing, a 2xx is acknowledged and connected to its agent
like an incoming call, a final refusal ends the call with the SIP status kept as
``carrier_response``. A call that rings for ``ring_timeout_s`` is cancelled as ``no-answer``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from aybiza.telephony.carrier import CarrierRefused, ProgressStatus
from aybiza.telephony.sip.digest import Challenge, authorize, choose_challenge
from aybiza.telephony.sip.headers import CSeq, Headers, NameAddr, Via, new_tag
from aybiza.telephony.sip.message import Request, Response
from aybiza.telephony.sip.syntax import SipParseError
from aybiza.telephony.sip.transaction import ClientTransaction
from aybiza.telephony.sip.transport import DEFAULT_PORTS, Peer
from aybiza.telephony.sip.uri import SipUri
from aybiza.timeouts import within

log = structlog.get_logger(__name__)

# A refused call's final status as the platform's progress.
_ENDINGS: dict[int, ProgressStatus] = {
    486: "busy",
    600: "busy",
    408: "no-answer",
    480: "no-answer",
    487: "canceled",
    603: "busy",
}


def ending_for(status: int) -> ProgressStatus:
    return _ENDINGS.get(status, "failed")


def fails_over(status: int) -> bool:
    """Whether a final status sends the call to the next gateway."""
    return status == 408 or 500 <= status <= 599


@dataclass(frozen=True, slots=True)
class Gateway:
    """One of a trunk's gateways: host (name or IP) and port."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str, transport: str) -> Gateway:
        host, colon, port = text.rpartition(":")
        if colon and port.isdigit():
            return cls(host, int(port))
        return cls(text, DEFAULT_PORTS[transport])

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    def uri_for(self, number: str) -> SipUri:
        """The Request-URI of a call to ``number`` through this gateway."""
        return SipUri(self.host, user=number, port=self.port, params={"user": "phone"})


@dataclass(frozen=True, slots=True)
class TrunkCredentials:
    username: str
    password: str


def cancel_for(invite: Request) -> Request:
    """The CANCEL of an INVITE we sent (RFC 3261 §9.1): same Request-URI, top Via (branch),
    From, To, Call-ID and CSeq number, and its Route set."""
    return Request(
        method="CANCEL",
        uri=invite.uri,
        via=[invite.via[0]],
        from_=invite.from_,
        to=invite.to,
        call_id=invite.call_id,
        cseq=CSeq(invite.cseq.number, "CANCEL"),
        route=list(invite.route),
    )


def with_credentials(
    request: Request, response: Response, credentials: TrunkCredentials | None, via: Via
) -> Request | None:
    """``request`` again (INVITE or REGISTER), answering the 401/407 ``response``; None when it
    cannot be answered (no credentials, no supported challenge, or a challenge to credentials
    already sent)."""
    if credentials is None:
        return None
    header = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
    answer = "Authorization" if response.status == 401 else "Proxy-Authorization"
    if answer in request.headers:
        return None
    try:
        challenges = [Challenge.parse(v, header) for v in response.headers.get_all(header)]
    except SipParseError:
        return None
    challenge = choose_challenge(challenges)
    if challenge is None:
        return None
    authorization = authorize(
        challenge,
        username=credentials.username,
        password=credentials.password,
        method=request.method,
        uri=str(request.uri),
        body=request.body,
    )
    retry = Request(
        method=request.method,
        uri=request.uri,
        via=[via],
        from_=request.from_,
        to=request.to,
        call_id=request.call_id,
        cseq=CSeq(request.cseq.number + 1, request.method),
        contact=list(request.contact),
        route=list(request.route),
        headers=Headers(list(request.headers)),
        body=request.body,
    )
    retry.headers.add(answer, str(authorization))
    return retry


def new_invite(
    *,
    target: SipUri,
    from_user: str,
    local_host: str,
    contact: NameAddr,
    call_id: str,
    via: Via,
    sdp: bytes,
    headers: list[tuple[str, str]],
) -> Request:
    """The first INVITE of a new call to ``target``, from ``from_user`` at ``local_host``."""
    request = Request(
        method="INVITE",
        uri=target,
        via=[via],
        from_=NameAddr(SipUri(local_host, user=from_user)).with_tag(new_tag()),
        to=NameAddr(target),
        call_id=call_id,
        cseq=CSeq(1, "INVITE"),
        contact=[contact],
    )
    for name, value in [*headers, ("Content-Type", "application/sdp")]:
        request.headers.add(name, value)
    request.body = sdp
    return request


class InviteAttempt:
    """One INVITE transaction to one gateway, as a stream of responses the dialler awaits."""

    def __init__(self, request: Request, peer: Peer) -> None:
        self.request = request
        self.peer = peer
        self.responses: asyncio.Queue[Response | None] = asyncio.Queue()
        self.transaction: ClientTransaction | None = None
        self.provisional = False
        # Set once the 2xx is acknowledged: its retransmissions get the same ACK again.
        self.ack: Request | None = None
        self.send_ack: Callable[[Request, Peer], None] | None = None

    def on_response(self, response: Response) -> None:
        if response.status < 200:
            self.provisional = True
        elif response.status < 300 and self.ack is not None and self.send_ack is not None:
            self.send_ack(self.ack, self.peer)
            return
        self.responses.put_nowait(response)

    def on_failure(self, _: object) -> None:
        self.responses.put_nowait(None)

    async def next(self, wait_s: float) -> Response | None:
        """The next response; None on timeout or transport failure."""
        with contextlib.suppress(TimeoutError):
            return await within(self.responses.get(), wait_s)
        return None

    def abandon(self) -> None:
        if self.transaction is not None:
            self.transaction.abandon()


def refused(message: str, status: int | None) -> CarrierRefused:
    return CarrierRefused(message, field="to" if status in (404, 484, 604) else None,
                          carrier_code=status)  # fmt: skip
