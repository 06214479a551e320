"""The simulated SIP caller's user agent core: what it answers when the server sends a request.

Inside the call: BYE ends it (the agent hung up); a re-INVITE or UPDATE is answered from the
caller's SDP (hold, codec change, session refresh; an offerless re-INVITE gets an offer and its
answer comes in the ACK); REFER (the agent transferring the call) is accepted, reported to the
call, and followed by the NOTIFY a phone sends once the transfer target answered; INFO, OPTIONS
and NOTIFY get 200. Outside it: OPTIONS 200, a new INVITE 486 (the caller is on a call), the
rest 481.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from aybiza.telephony.sip.call import ALLOW, SDP, send_in_dialog
from aybiza.telephony.sip.dialog import Dialog, DialogError
from aybiza.telephony.sip.endpoint import SipEndpoint
from aybiza.telephony.sip.headers import NameAddr, new_tag
from aybiza.telephony.sip.media import RtpEndpoint
from aybiza.telephony.sip.message import Request, Response
from aybiza.telephony.sip.offer_answer import NotAcceptable, SdpSession
from aybiza.telephony.sip.sdp import SdpError, SessionDescription
from aybiza.telephony.sip.server_transaction import ServerTransaction
from aybiza.telephony.sip.transaction_table import IncomingRequest
from aybiza.telephony.sip.transport import Peer
from aybiza.timeouts import within

log = structlog.get_logger(__name__)

SIPFRAG = "message/sipfrag;version=2.0"
_TERMINATED = "terminated;reason=noresource"


@dataclass(slots=True)
class EstablishedCall:
    """What the user agent needs of the call once the INVITE was answered."""

    dialog: Dialog
    peer: Peer
    contact: NameAddr
    sdp: SdpSession
    rtp: RtpEndpoint
    ack: Request


class FarEndEvents(Protocol):
    """What the call hears of the server's requests."""

    def far_end_hung_up(self, reason: str | None) -> None:
        """The server sent BYE (``reason``: its Reason header, RFC 3326)."""

    def transferred(self, target: str) -> None:
        """The server asked the caller to call ``target`` instead (REFER)."""


class CallerAgent:
    """``TransactionUser`` of the simulated caller's ``SipEndpoint``; ``endpoint`` is set once
    the endpoint that calls it exists, ``call`` once the INVITE was answered."""

    def __init__(self, events: FarEndEvents) -> None:
        self.endpoint: SipEndpoint | None = None
        self.call: EstablishedCall | None = None
        self._events = events
        self._tasks: set[asyncio.Task[None]] = set()

    def request_received(self, incoming: IncomingRequest, peer: Peer) -> None:
        request = incoming.request
        call = self.call
        in_dialog = call is not None and call.dialog.matches_request(request)
        if request.method == "ACK":
            if in_dialog and call is not None and request.body:
                self._late_answer(call, request)
            return
        transaction = incoming.transaction
        if transaction is None:
            return
        if call is None or not in_dialog:
            self._outside_dialog(request, transaction)
            return
        status = call.dialog.receive_request(request)
        if status is not None:
            transaction.respond(request.response(status))
            return
        method = request.method
        if method == "BYE":
            transaction.respond(request.response(200))
            self._events.far_end_hung_up(request.headers.get("Reason"))
        elif method in ("INVITE", "UPDATE"):
            transaction.respond(self._renegotiate(call, request))
        elif method == "REFER":
            target = request.headers.get("Refer-To")
            if target is None:
                transaction.respond(request.response(400, "Bad Request (no Refer-To)"))
                return
            transaction.respond(request.response(202))
            self._events.transferred(target.strip().strip("<>"))
            self._spawn(self._notify_transferred(call))
        elif method in ("INFO", "OPTIONS", "NOTIFY"):
            transaction.respond(request.response(200))
        else:
            transaction.respond(request.response(405, headers=[("Allow", ALLOW)]))

    def _outside_dialog(self, request: Request, transaction: ServerTransaction) -> None:
        if request.method == "OPTIONS":
            transaction.respond(request.response(200, to_tag=new_tag(), headers=[("Allow", ALLOW)]))
        elif request.method == "INVITE" and request.to.tag is None:
            transaction.respond(request.response(486, to_tag=new_tag()))
        else:
            transaction.respond(request.response(481, to_tag=new_tag()))

    def _renegotiate(self, call: EstablishedCall, request: Request) -> Response:
        """A re-INVITE or UPDATE: answer its offer, offer ours when it has none (INVITE)."""
        answer: SessionDescription | None = None
        if request.body:
            try:
                answer, params = call.sdp.answer(SessionDescription.parse(request.body))
            except SdpError as exc:
                return request.response(488, f"Not Acceptable Here ({exc})"[:120])
            call.rtp.update(params)
        elif request.method == "INVITE":
            answer = call.sdp.offer()
        headers = [("Allow", ALLOW)]
        body = b""
        if answer is not None:
            headers.append(("Content-Type", SDP))
            body = answer.serialize()
        response = request.response(200, headers=headers, body=body)
        response.contact = [call.contact]
        return response

    def _late_answer(self, call: EstablishedCall, ack: Request) -> None:
        with contextlib.suppress(SdpError, NotAcceptable):
            call.rtp.update(call.sdp.accept_answer(SessionDescription.parse(ack.body)))

    async def _notify_transferred(self, call: EstablishedCall) -> None:
        """RFC 3515 §2.4.5: the referred call's outcome, as a phone reports it once the target
        answered (the simulated caller has no second line to place it on)."""
        if self.endpoint is None:
            return
        via = self.endpoint.transport(call.peer.transport).via()
        try:
            notify = call.dialog.create_request(
                "NOTIFY",
                via,
                body=b"SIP/2.0 200 OK\r\n",
                content_type=SIPFRAG,
                headers=[("Event", "refer"), ("Subscription-State", _TERMINATED)],
            )
        except DialogError:
            return
        notify.contact = [call.contact]
        with contextlib.suppress(TimeoutError):
            await within(send_in_dialog(self.endpoint, notify, call.peer), 8.0)

    def stray_response(self, response: Response, peer: Peer) -> None:
        """A 2xx to our INVITE retransmitted after its transaction ended: ACK it again."""
        call = self.call
        if (
            call is not None
            and self.endpoint is not None
            and response.cseq.method == "INVITE"
            and 200 <= response.status < 300
            and response.call_id == call.dialog.call_id
        ):
            self.endpoint.send_stateless(call.ack, call.peer)

    def server_timeout(self, transaction: ServerTransaction) -> None:
        log.info("sip_caller.no_ack", method=transaction.request.method)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        """Stop what is still running (a NOTIFY waiting for its response)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
