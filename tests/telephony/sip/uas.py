"""A tiny user agent server built from the signalling layers, for loopback tests: it answers
OPTIONS 200, INVITE 100/180/200 (a fixed SDP answer), ACK, BYE 200, CANCEL 200 + 487."""

from __future__ import annotations

from collections.abc import Hashable

from aybiza.telephony.sip.dialog import Dialog
from aybiza.telephony.sip.endpoint import SipEndpoint
from aybiza.telephony.sip.headers import NameAddr, new_tag
from aybiza.telephony.sip.inspection import UasCapabilities, inspect_request
from aybiza.telephony.sip.message import Response
from aybiza.telephony.sip.server_transaction import InviteServerTransaction, ServerTransaction
from aybiza.telephony.sip.transaction import State
from aybiza.telephony.sip.transaction_table import IncomingRequest
from aybiza.telephony.sip.transport import Peer
from aybiza.telephony.sip.uri import SipUri

SDP_ANSWER = (
    b"v=0\r\no=- 1600 1600 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 20000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\n"
)


class LoopbackUas:
    """The transaction user of a test endpoint; ``events`` records what happened, in order."""

    def __init__(self, *, answer: bool = True) -> None:
        self.answer = answer
        self.endpoint: SipEndpoint | None = None
        self.dialogs: dict[Hashable, Dialog] = {}
        self.events: list[str] = []
        self.x_headers: list[dict[str, str]] = []
        self.capabilities = UasCapabilities()
        self._tags: dict[int, str] = {}

    def request_received(self, incoming: IncomingRequest, peer: Peer) -> None:
        request = incoming.request
        self.events.append(request.method)
        if request.method == "ACK":
            if incoming.acknowledges is not None:
                self.events.append("ACK-2xx")
            return
        transaction = incoming.transaction
        assert transaction is not None
        refusal = inspect_request(request, self.capabilities)
        if refusal is not None:
            transaction.respond(refusal.response_to(request, to_tag=new_tag()))
            return
        if request.method == "OPTIONS":
            allow = ", ".join(self.capabilities.methods)
            headers = [("Allow", allow), ("Accept", "application/sdp")]
            transaction.respond(request.response(200, headers=headers))
        elif request.method == "INVITE":
            self._invite(transaction, peer)
        elif request.method == "CANCEL":
            self._cancel(transaction, incoming.cancels)
        else:
            dialog = next((d for d in self.dialogs.values() if d.matches_request(request)), None)
            status = 481 if dialog is None else dialog.receive_request(request)
            transaction.respond(request.response(status or 200))

    def _invite(self, transaction: ServerTransaction, peer: Peer) -> None:
        request = transaction.request
        self.x_headers.append(request.x_headers)
        tag = new_tag()
        self._tags[id(transaction)] = tag
        transaction.respond(request.response(180, to_tag=tag))
        if not self.answer:
            return
        ok = request.response(
            200, to_tag=tag, headers=[("Content-Type", "application/sdp")], body=SDP_ANSWER
        )
        ok.contact = [NameAddr(self.contact_uri(peer.transport))]
        dialog = Dialog.as_uas(request, ok)
        self.dialogs[dialog.id] = dialog
        transaction.respond(ok)

    def _cancel(
        self, transaction: ServerTransaction, invite: InviteServerTransaction | None
    ) -> None:
        request = transaction.request
        if invite is None:
            transaction.respond(request.response(481))
            return
        transaction.respond(request.response(200))
        if invite.state is State.PROCEEDING:
            tag = self._tags.get(id(invite), new_tag())
            invite.respond(invite.request.response(487, to_tag=tag))

    def contact_uri(self, transport: str) -> SipUri:
        assert self.endpoint is not None
        sent_by = self.endpoint.transport(transport).sent_by
        params: dict[str, str | None] = (
            {} if transport == "UDP" else {"transport": transport.lower()}
        )
        return SipUri(sent_by.host, "aybiza", sent_by.port, params=params)

    def stray_response(self, response: Response, peer: Peer) -> None:
        self.events.append(f"stray {response.status}")

    def server_timeout(self, transaction: ServerTransaction) -> None:
        self.events.append(f"timeout {transaction.request.method}")
