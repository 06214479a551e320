"""``SipUserAgent``: the SIP edge's user agent core (RFC 3261 §8, §12-§15).

It sits on one ``SipEndpoint`` (every listener: UDP, TCP, TLS) and routes what the
transactions hand up: a new INVITE is answered (``inbound``), a request inside a dialog goes to
its ``SipCall``, OPTIONS outside a dialog is answered with what we support, CANCEL stops an
INVITE still being answered (487), and anything for a dialog we do not know is 481. It also
dials outbound calls (``OutboundDial``) and ends calls for the API.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog

from aybiza.outbound.guard import Guard
from aybiza.telephony.carrier import CallIntake, CarrierRefused, Dial
from aybiza.telephony.sip.attended import attended_transfer
from aybiza.telephony.sip.call import ALLOW, SipCall
from aybiza.telephony.sip.dialing import Gateway, TrunkCredentials
from aybiza.telephony.sip.endpoint import SipEndpoint
from aybiza.telephony.sip.headers import NameAddr, new_tag
from aybiza.telephony.sip.inbound import answer_invite
from aybiza.telephony.sip.inspection import UasCapabilities, inspect_request
from aybiza.telephony.sip.message import Response
from aybiza.telephony.sip.outbound import OutboundDial
from aybiza.telephony.sip.ports import RtpPortAllocator
from aybiza.telephony.sip.server_transaction import InviteServerTransaction, ServerTransaction
from aybiza.telephony.sip.transaction import State
from aybiza.telephony.sip.transaction_table import IncomingRequest
from aybiza.telephony.sip.transport import Peer
from aybiza.telephony.sip.trunk_gate import TrunkGate
from aybiza.telephony.sip.uri import SipUri, Uri

log = structlog.get_logger(__name__)

CAPABILITIES = UasCapabilities(methods=tuple(m.strip() for m in ALLOW.split(",")))


class SipUserAgent:
    """Routes SIP requests to calls; answers and places calls for the platform."""

    def __init__(
        self,
        intake: CallIntake,
        gate: TrunkGate,
        allocator: RtpPortAllocator,
        guard: Guard,
        *,
        media_address: str,
        public_host: str | None,
        flush: Callable[[], Awaitable[None]],
        failover_s: float = 4.0,
        ring_timeout_s: float = 60.0,
        rtp_timeout_s: float = 60.0,
    ) -> None:
        self.rtp_timeout_s = rtp_timeout_s
        self.intake = intake
        self.gate = gate
        self.allocator = allocator
        self.guard = guard
        self.media_address = media_address
        self.endpoint = SipEndpoint(self, public_host=public_host)
        self.calls: dict[str, SipCall] = {}
        self.dials: dict[str, OutboundDial] = {}
        self._flush = flush
        self._failover_s = failover_s
        self._ring_timeout_s = ring_timeout_s
        self._tasks: set[asyncio.Task[Any]] = set()
        # Which gateways to try first (``GatewayHealth.order`` once keep-alives run).
        self.gateway_order: Callable[[Sequence[Gateway]], list[Gateway]] = list

    # ------------------------------------------------------------------ CallHost

    def contact(self, transport: str) -> NameAddr:
        sent_by = self.endpoint.transport(transport).sent_by
        params: dict[str, str | None] = (
            {} if transport.upper() == "UDP" else {"transport": transport.lower()}
        )
        return NameAddr(SipUri(sent_by.host, "aybiza", sent_by.port, params=params))

    def local_host(self, transport: str) -> str:
        return self.endpoint.transport(transport).sent_by.host

    def register(self, call: SipCall) -> None:
        self.calls[call.call_id] = call

    def forget(self, call: SipCall) -> None:
        if self.calls.get(call.call_id) is call:
            del self.calls[call.call_id]

    async def flush(self) -> None:
        await self._flush()

    async def warm_transfer(self, call: SipCall, target: Uri, announcement: bytes) -> bool:
        return await attended_transfer(call, target, announcement)

    # ------------------------------------------------------------------ TransactionUser

    def request_received(self, incoming: IncomingRequest, peer: Peer) -> None:
        request = incoming.request
        call = self.calls.get(request.call_id)
        if request.method == "ACK":
            if call is not None and incoming.acknowledges is not None:
                call.acknowledged(request)
                self._spawn(call.start_loop())
            return
        transaction = incoming.transaction
        if transaction is None:
            return
        refusal = inspect_request(request, CAPABILITIES)
        if refusal is not None:
            transaction.respond(refusal.response_to(request, to_tag=new_tag()))
        elif request.method == "CANCEL":
            self._cancel(transaction, incoming.cancels)
        elif request.to.tag is not None:
            if call is None or not call.dialog.matches_request(request):
                transaction.respond(request.response(481))
            else:
                call.request_received(incoming)
        elif request.method == "INVITE":
            assert isinstance(transaction, InviteServerTransaction)
            self._spawn(self._answer(transaction, peer))
        elif request.method == "OPTIONS":
            transaction.respond(request.response(200, to_tag=new_tag(), headers=_options()))
        elif request.method in ("BYE", "NOTIFY", "INFO", "UPDATE"):
            transaction.respond(request.response(481, to_tag=new_tag()))
        else:
            transaction.respond(request.response(405, to_tag=new_tag(), headers=[("Allow", ALLOW)]))

    async def _answer(self, transaction: InviteServerTransaction, peer: Peer) -> None:
        try:
            await answer_invite(self, transaction, peer)
        except Exception:
            log.exception("sip.answer_failed", call_id=transaction.request.call_id)
            if transaction.state is State.PROCEEDING:
                request = transaction.request
                transaction.respond(request.response(500, to_tag=new_tag()))

    def _cancel(
        self, transaction: ServerTransaction, invite: InviteServerTransaction | None
    ) -> None:
        request = transaction.request
        if invite is None:
            transaction.respond(request.response(481))
            return
        transaction.respond(request.response(200))
        if invite.state is State.PROCEEDING:
            invite.respond(invite.request.response(487, to_tag=new_tag()))

    def stray_response(self, response: Response, peer: Peer) -> None:
        """A 2xx to our INVITE retransmitted after its transaction ended: ACK it again."""
        call = self.calls.get(response.call_id)
        if call is not None and response.cseq.method == "INVITE" and 200 <= response.status < 300:
            via = self.endpoint.transport(call.peer.transport).via()
            self.endpoint.send_stateless(call.dialog.ack(response.cseq.number, via), call.peer)

    def server_timeout(self, transaction: ServerTransaction) -> None:
        """Our 2xx was never acknowledged: the caller never heard the answer (Timer H / L)."""
        call = self.calls.get(transaction.request.call_id)
        if call is not None and transaction.request.method == "INVITE" and not call.confirmed:
            log.warning("sip.no_ack", call_id=call.sid)
            self._spawn(call.end_now("stream-failed"))

    # ------------------------------------------------------------------ the platform's side

    async def dial(self, dial: Dial, credentials: TrunkCredentials | None) -> str:
        """Place ``dial`` through its trunk; the call's id once a gateway took it. Raises
        ``CarrierRefused`` when none did."""
        dialling = OutboundDial(
            self,
            dial,
            credentials,
            failover_s=self._failover_s,
            ring_timeout_s=self._ring_timeout_s,
        )
        self.dials[dialling.sid] = dialling
        task = self._spawn(dialling.run())
        task.add_done_callback(lambda _: self.dials.pop(dialling.sid, None))
        return await dialling.accepted

    async def hang_up(self, sid: str) -> None:
        """End a call that has no loop yet: cancel its dialling, or BYE its dialog."""
        dialling = self.dials.get(sid)
        if dialling is not None:
            dialling.cancel()
            return
        for call in list(self.calls.values()):
            if call.sid == sid:
                await call.end_now("api-hangup")
                return
        raise CarrierRefused(f"no SIP call {sid} on this server", gone=True)

    async def close(self) -> None:
        """End every call (server shutdown) and stop listening."""
        for dialling in list(self.dials.values()):
            dialling.cancel()
        await asyncio.gather(
            *(call.end_now("server-shutdown") for call in list(self.calls.values())),
            return_exceptions=True,
        )
        await self.endpoint.close()
        for task in list(self._tasks):
            task.cancel()

    def _spawn(self, work: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


def _options() -> list[tuple[str, str]]:
    return [
        ("Allow", ALLOW),
        ("Accept", "application/sdp"),
        ("Supported", "timer"),
    ]
