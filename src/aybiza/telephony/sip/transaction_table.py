"""The transactions of one SIP endpoint, and the matching of messages to them.

Responses match client transactions by top Via branch and CSeq method (RFC 3261 §17.1.3);
requests match server transactions by branch, sent-by and method, ACK counting as INVITE
(§17.2.3). A CANCEL gets its own transaction and is paired with the INVITE it cancels (§9.2).
An ACK for a 2xx has a branch of its own: it is paired with its INVITE by Call-ID, CSeq number
and tags, stopping that INVITE's 2xx retransmissions.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass

from aybiza.telephony.sip.message import Request, Response
from aybiza.telephony.sip.server_transaction import (
    InviteServerTransaction,
    NonInviteServerTransaction,
    ServerTransaction,
)
from aybiza.telephony.sip.timers import Clock, TimerSettings
from aybiza.telephony.sip.transaction import (
    ClientTransaction,
    Failure,
    InviteClientTransaction,
    NonInviteClientTransaction,
    Send,
    State,
    Transaction,
    client_key,
    server_key,
)


@dataclass(frozen=True, slots=True)
class IncomingRequest:
    """A request the transaction user must act on.

    ``transaction`` is where to ``respond`` (None for an ACK, which gets no response).
    ``cancels`` is, for a CANCEL, the INVITE transaction it matches while that still exists.
    ``acknowledges`` is, for the ACK of a 2xx, the INVITE transaction it completes."""

    request: Request
    transaction: ServerTransaction | None
    cancels: InviteServerTransaction | None = None
    acknowledges: InviteServerTransaction | None = None


def _dialog_key(request: Request) -> Hashable:
    return (request.call_id, request.cseq.number, request.from_.tag)


class TransactionTable:
    """Creates, finds and forgets the transactions of one endpoint."""

    def __init__(
        self,
        clock: Clock,
        timers: TimerSettings | None = None,
        on_server_timeout: Callable[[ServerTransaction], None] | None = None,
    ) -> None:
        self._clock = clock
        self._timers = timers or TimerSettings()
        self._on_server_timeout = on_server_timeout
        self._client: dict[Hashable, ClientTransaction] = {}
        self._server: dict[Hashable, ServerTransaction] = {}
        self._invites: dict[Hashable, InviteServerTransaction] = {}

    @property
    def client_count(self) -> int:
        return len(self._client)

    @property
    def server_count(self) -> int:
        return len(self._server)

    def send_request(
        self,
        request: Request,
        send: Send,
        *,
        reliable: bool,
        on_response: Callable[[Response], None],
        on_failure: Callable[[Failure], None],
    ) -> ClientTransaction:
        """Start a client transaction for ``request`` (not for ACK, which has none)."""
        if request.method == "ACK":
            raise ValueError("an ACK is sent without a transaction")
        kind = InviteClientTransaction if request.method == "INVITE" else NonInviteClientTransaction
        transaction = kind(
            request,
            send,
            clock=self._clock,
            reliable=reliable,
            on_response=on_response,
            on_failure=on_failure,
            timers=self._timers,
            on_terminated=self._forget,
        )
        self._client[transaction.key] = transaction
        transaction.start()
        return transaction

    def receive_response(self, response: Response) -> bool:
        """Hand a response to its client transaction; False when none matches (a stray, such
        as a 2xx retransmitted after Timer M, which the dialog ACKs again)."""
        transaction = self._client.get(client_key(response))
        if transaction is None:
            return False
        transaction.receive_response(response)
        return True

    def receive_request(
        self, request: Request, send: Send, *, reliable: bool
    ) -> IncomingRequest | None:
        """Match a request; None when it was a retransmission the transaction absorbed."""
        existing = self._server.get(server_key(request))
        if existing is not None:
            existing.receive_request(request)
            return None
        if request.method == "ACK":
            return IncomingRequest(request, None, acknowledges=self._acknowledge(request))
        kind = InviteServerTransaction if request.method == "INVITE" else NonInviteServerTransaction
        transaction = kind(
            request,
            send,
            clock=self._clock,
            reliable=reliable,
            timers=self._timers,
            on_timeout=self._on_server_timeout,
            on_terminated=self._forget,
        )
        self._server[transaction.key] = transaction
        if isinstance(transaction, InviteServerTransaction):
            self._invites[_dialog_key(request)] = transaction
        transaction.start()
        cancels = self.find_invite(request) if request.method == "CANCEL" else None
        return IncomingRequest(request, transaction, cancels=cancels)

    def transport_error(self, request: Request) -> None:
        """The transport could not send ``request``: its client transaction fails (§17.1.4)."""
        transaction = self._client.get(client_key(request))
        if transaction is not None:
            transaction.transport_error()

    def find_invite(self, cancel: Request) -> InviteServerTransaction | None:
        """The INVITE server transaction a CANCEL matches (RFC 3261 §9.2)."""
        found = self._server.get(server_key(cancel, method="INVITE"))
        return found if isinstance(found, InviteServerTransaction) else None

    def _acknowledge(self, ack: Request) -> InviteServerTransaction | None:
        invite = self._invites.get(_dialog_key(ack))
        if invite is None or invite.state is not State.ACCEPTED or invite.last_response is None:
            return None
        if invite.last_response.to.tag != ack.to.tag:
            return None
        invite.acknowledge()
        return invite

    def _forget(self, transaction: Transaction) -> None:
        if isinstance(transaction, ClientTransaction):
            self._client.pop(transaction.key, None)
            return
        assert isinstance(transaction, ServerTransaction)
        self._server.pop(transaction.key, None)
        if self._invites.get(_dialog_key(transaction.request)) is transaction:
            del self._invites[_dialog_key(transaction.request)]
