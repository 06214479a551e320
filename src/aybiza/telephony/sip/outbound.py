"""``OutboundDial``: one outbound SIP call from ``POST /v1/calls`` until it is answered (and
becomes a ``SipCall``) or fails. The steps are described in ``aybiza.telephony.sip.dialing``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog

from aybiza.outbound.guard import Refused, Unresolvable
from aybiza.telephony.carrier import (
    OUTBOUND_API,
    CallProgress,
    Dial,
    IncomingCall,
    MediaRefused,
    ProgressStatus,
)
from aybiza.telephony.carrier import Refused as AdmissionRefused
from aybiza.telephony.sip.call import ALLOW, CallHost, SipCall
from aybiza.telephony.sip.connection import MediaRelay
from aybiza.telephony.sip.dialing import (
    Gateway,
    InviteAttempt,
    TrunkCredentials,
    cancel_for,
    ending_for,
    fails_over,
    new_invite,
    refused,
    with_credentials,
)
from aybiza.telephony.sip.dialog import Dialog, DialogError
from aybiza.telephony.sip.headers import Via
from aybiza.telephony.sip.inbound import carrier_call_id
from aybiza.telephony.sip.media import RtpEndpoint
from aybiza.telephony.sip.message import Request, Response
from aybiza.telephony.sip.offer_answer import UNNEGOTIATED, NotAcceptable, SdpSession
from aybiza.telephony.sip.ports import NoRtpPort, RtpSockets
from aybiza.telephony.sip.sdp import SdpError, SessionDescription
from aybiza.telephony.sip.session_timer import offer_headers
from aybiza.telephony.sip.transport import Peer

log = structlog.get_logger(__name__)


class DialHost(CallHost, Protocol):
    def gateway_order(self, gateways: Sequence[Gateway]) -> list[Gateway]: ...


@dataclass(frozen=True, slots=True)
class _Next:
    why: str
    status: int | None = None


@dataclass(frozen=True, slots=True)
class _Final:
    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class _Answered:
    response: Response
    attempt: InviteAttempt


class OutboundDial:
    """Dials one call through its trunk; ``accepted`` resolves once a gateway took it."""

    def __init__(
        self,
        host: DialHost,
        dial: Dial,
        credentials: TrunkCredentials | None,
        *,
        failover_s: float,
        ring_timeout_s: float,
    ) -> None:
        self.host = host
        self.dial = dial
        self.credentials = credentials
        self.failover_s = failover_s
        self.ring_timeout_s = ring_timeout_s
        trunk = dial.number.sip or {}
        self.transport = str(trunk.get("transport") or "udp").upper()
        self.gateways = host.gateway_order(
            [Gateway.parse(g, self.transport) for g in trunk.get("gateways") or []]
        )
        self.call_id = f"{uuid.uuid4().hex}@{host.local_host(self.transport)}"
        self.sid = carrier_call_id(self.call_id)
        self.accepted: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._attempt: InviteAttempt | None = None
        self._cancelling = False
        self._ringing = False

    # ------------------------------------------------------------------ control

    def cancel(self) -> None:
        """Stop dialling (the API hung up a call still ringing)."""
        self._cancelling = True
        attempt = self._attempt
        if attempt is None:
            return
        if attempt.provisional:
            self.host.endpoint.send_request(
                cancel_for(attempt.request),
                attempt.peer,
                on_response=lambda _: None,
                on_failure=lambda _: None,
            )
        else:
            attempt.abandon()
            attempt.responses.put_nowait(None)

    def _accept(self) -> None:
        if not self.accepted.done():
            self.accepted.set_result(self.sid)

    async def _progress(self, status: ProgressStatus, detail: str | None = None) -> None:
        update = CallProgress(
            self.sid,
            status,
            call_id=self.dial.call_id,
            from_number=self.dial.number.e164,
            to_number=self.dial.to,
            detail=detail,
        )
        await self.host.intake.progress(update)

    async def _fail(self, message: str, status: int | None, ending: ProgressStatus) -> None:
        if not self.accepted.done():
            self.accepted.set_exception(refused(message, status))
        else:
            await self._progress(ending, message)

    # ------------------------------------------------------------------ dialling

    async def run(self) -> None:
        try:
            sockets = self.host.allocator.bind()
        except NoRtpPort:
            await self._fail("no free RTP port on this server", None, "failed")
            return
        try:
            answered = await self._dial_gateways(sockets)
        except Exception:
            log.exception("sip.dial_failed", call_id=self.sid)
            answered = None
            await self._fail("the SIP dialler failed", None, "failed")
        if answered is None:
            sockets.close()
            self.host.allocator.release(sockets.port)
            return
        await self._connect(answered[0], answered[1], sockets)

    async def _dial_gateways(self, sockets: RtpSockets) -> tuple[_Answered, SdpSession] | None:
        sdp = SdpSession(self.host.media_address, sockets.port)
        offer = sdp.offer().serialize()
        last = _Next("the trunk has no gateways")
        for gateway in self.gateways:
            if self._cancelling:
                break
            outcome = await self._try_gateway(gateway, offer)
            if isinstance(outcome, _Answered):
                return outcome, sdp
            if isinstance(outcome, _Final):
                text = f"SIP {outcome.status} {outcome.reason}"
                await self._fail(text, outcome.status, ending_for(outcome.status))
                return None
            log.info(
                "sip.gateway_failover", call_id=self.sid, gateway=str(gateway), why=outcome.why
            )
            last = outcome
        if self._cancelling:
            await self._fail("canceled", None, "canceled")
        else:
            await self._fail(f"no gateway took the call: {last.why}", last.status, "failed")
        return None

    async def _try_gateway(self, gateway: Gateway, offer: bytes) -> _Answered | _Final | _Next:
        try:
            addresses = await self.host.guard.check_host(gateway.host, gateway.port)
        except (Refused, Unresolvable) as exc:
            return _Next(str(exc))
        peer = Peer(self.transport, str(addresses[0]), gateway.port)
        via = self._via()
        invite = new_invite(
            target=gateway.uri_for(self.dial.to),
            from_user=self.dial.number.e164,
            local_host=self.host.local_host(self.transport),
            contact=self.host.contact(self.transport),
            call_id=self.call_id,
            via=via,
            sdp=offer,
            headers=[("Allow", ALLOW), ("Supported", "timer"), *offer_headers()],
        )
        authenticated = False
        while True:
            attempt = self._send(invite, peer)
            outcome = await self._await_final(gateway, attempt)
            if isinstance(outcome, Response):
                retry = None
                if outcome.status in (401, 407) and not authenticated:
                    retry = with_credentials(invite, outcome, self.credentials, self._via())
                if retry is None:
                    return _Final(outcome.status, outcome.reason)
                invite, authenticated = retry, True
                continue
            return outcome

    def _send(self, invite: Request, peer: Peer) -> InviteAttempt:
        attempt = InviteAttempt(invite, peer)
        self._attempt = attempt
        attempt.transaction = self.host.endpoint.send_request(
            invite, peer, on_response=attempt.on_response, on_failure=attempt.on_failure
        )
        return attempt

    async def _await_final(
        self, gateway: Gateway, attempt: InviteAttempt
    ) -> _Answered | _Next | _Final | Response:
        """Responses until a final one: ``Response`` for a challenge or a refusal to act on."""
        loop = asyncio.get_running_loop()
        ring_deadline: float | None = None
        while True:
            if ring_deadline is None:
                timeout = self.failover_s
            else:
                timeout = max(0.0, ring_deadline - loop.time())
            response = await attempt.next(timeout)
            if response is None:
                if self._cancelling:
                    return _Final(487, "Request Terminated")
                if not attempt.provisional:
                    attempt.abandon()
                    return _Next(f"{gateway} did not answer within {self.failover_s:g} s")
                if ring_deadline is not None and loop.time() >= ring_deadline:
                    self.cancel()
                    await self._progress("no-answer", f"no answer within {self.ring_timeout_s:g} s")
                    return _Final(487, "Request Terminated (ring timeout)")
                return _Next(f"{gateway} stopped answering", None)
            status = response.status
            if status < 200:
                self._accept()
                if ring_deadline is None:
                    ring_deadline = loop.time() + self.ring_timeout_s
                if status in (180, 183) and not self._ringing:
                    self._ringing = True
                    await self._progress("ringing")
                continue
            if status < 300:
                self._accept()
                return _Answered(response, attempt)
            if fails_over(status) and not self._cancelling:
                return _Next(f"{gateway} answered {status} {response.reason}", status)
            return response

    # ------------------------------------------------------------------ answered

    async def _connect(self, answered: _Answered, sdp: SdpSession, sockets: RtpSockets) -> None:
        response, attempt = answered.response, answered.attempt
        invite, peer = attempt.request, attempt.peer
        try:
            dialog = Dialog.as_uac(invite, response)
        except DialogError as exc:
            log.warning("sip.bad_2xx", call_id=self.sid, error=str(exc))
            sockets.close()
            self.host.allocator.release(sockets.port)
            await self._progress("failed", f"unusable 2xx: {exc}")
            return
        ack = dialog.ack(invite.cseq.number, self._via())
        attempt.ack, attempt.send_ack = ack, self.host.endpoint.send_stateless
        self.host.endpoint.send_stateless(ack, peer)
        relay = MediaRelay()
        try:
            params = sdp.accept_answer(SessionDescription.parse(response.body))
        except (SdpError, NotAcceptable) as exc:
            params = None
            problem = f"the answer's SDP cannot be used: {exc}"
        rtp = RtpEndpoint(sockets, params or UNNEGOTIATED, relay, allocator=self.host.allocator)
        call = SipCall(self.host, dialog, peer, rtp, relay, sdp, self.sid)
        call.timer.answered(response)
        self.host.register(call)
        if params is None or self._cancelling:
            await self._progress("failed" if params is None else "canceled",
                                 problem if params is None else "canceled")  # fmt: skip
            await call.end_now("failed" if params is None else "canceled")
            return
        await self._start(call, rtp)

    async def _start(self, call: SipCall, rtp: RtpEndpoint) -> None:
        incoming = IncomingCall(
            carrier="sip",
            carrier_call_id=self.sid,
            from_number=self.dial.number.e164,
            to_number=self.dial.to,
            platform_number=self.dial.number.e164,
            direction=OUTBOUND_API,
            call_id=self.dial.call_id,
        )
        admission = await self.host.intake.admit(incoming)
        if isinstance(admission, AdmissionRefused) or call.ended.is_set():
            await call.end_now("failed")
            return
        try:
            session = await self.host.intake.open_session(
                self.sid, f"rtp-{rtp.port}", call.connection
            )
        except MediaRefused as exc:
            log.warning("sip.media_refused", call_id=self.sid, error=str(exc))
            await call.end_now("failed")
            return
        call.attach(session)
        await rtp.start()
        await call.start_loop()

    def _via(self) -> Via:
        return self.host.endpoint.transport(self.transport).via()
