"""Server transactions (RFC 3261 §17.2, with RFC 6026's Accepted state).

The TU answers through ``respond``; the transaction sends, retransmits and absorbs the caller's
retransmissions. ``send`` routes responses (the transport does RFC 3261 §18.2.2).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Hashable
from typing import Unpack

from aybiza.telephony.sip.message import Request, Response
from aybiza.telephony.sip.transaction import (
    Send,
    State,
    Transaction,
    TransactionOptions,
    server_key,
)


class ServerTransaction(Transaction, abc.ABC):
    """A request we received, until our final response has been delivered."""

    def __init__(
        self,
        request: Request,
        send: Send,
        *,
        on_timeout: Callable[[ServerTransaction], None] | None = None,
        **options: Unpack[TransactionOptions],
    ) -> None:
        super().__init__(request, send, **options)
        self._on_timeout = on_timeout
        self._interval = self._settings.t1
        self.last_response: Response | None = None
        self.acknowledged = False

    @property
    def key(self) -> Hashable:
        return server_key(self.request)

    def start(self) -> None:
        """Take the request in (the INVITE transaction answers 100 Trying at once)."""

    @abc.abstractmethod
    def receive_request(self, request: Request) -> None:
        """A retransmission of the request (or, for INVITE, its non-2xx ACK)."""

    @abc.abstractmethod
    def respond(self, response: Response) -> None:
        """Send the TU's response."""

    def transport_error(self) -> None:
        """The response could not be sent (RFC 3261 §17.2.4)."""
        self._terminate()

    def _give_up(self) -> None:
        if self._on_timeout is not None:
            self._on_timeout(self)
        self._terminate()


class InviteServerTransaction(ServerTransaction):
    """RFC 3261 §17.2.1 (Figure 7) with RFC 6026's Accepted state.

    A 100 Trying goes out at once, stopping the caller's Timer A. A non-2xx final response is
    retransmitted on Timer G (T1 doubling to T2) until the ACK, giving up on Timer H (64*T1).
    The 2xx is retransmitted on the same schedule on behalf of the UAS core (§13.3.1.4) until
    the dialog's ACK, which the transaction table routes here (``acknowledge``); Timer L ends
    the Accepted state, and ``on_timeout`` runs when no ACK ever came (the core then sends
    BYE)."""

    def start(self) -> None:
        self.state = State.PROCEEDING
        self.respond(self.request.response(100))

    def receive_request(self, request: Request) -> None:
        if request.method == "ACK":
            if self.state is State.COMPLETED:
                self.state = State.CONFIRMED
                self._stop_timer("G")
                self._stop_timer("H")
                self._linger("I", self._settings.t4)
            return
        if self.state in (State.PROCEEDING, State.COMPLETED) and self.last_response is not None:
            self._send(self.last_response)

    def respond(self, response: Response) -> None:
        if self.state is State.ACCEPTED and 200 <= response.status < 300:
            self.last_response = response
            self._send(response)
            return
        if self.state is not State.PROCEEDING:
            return
        self.last_response = response
        self._send(response)
        if response.status < 200:
            return
        self._interval = self._settings.t1
        if response.status < 300:
            self.state = State.ACCEPTED
            timer, give_up = "G2xx", "L"
        else:
            self.state = State.COMPLETED
            timer, give_up = "G", "H"
        if not self.reliable:
            self._start_timer(timer, self._interval, lambda: self._retransmit(timer))
        self._start_timer(give_up, self._settings.transaction_timeout, self._end)

    def acknowledge(self) -> None:
        """The ACK for our 2xx arrived (matched by dialog, as it has its own branch)."""
        if self.state is State.ACCEPTED:
            self.acknowledged = True
            self._stop_timer("G2xx")

    def _retransmit(self, timer: str) -> None:
        if self.last_response is not None:
            self._send(self.last_response)
        self._interval = min(2 * self._interval, self._settings.t2)
        self._start_timer(timer, self._interval, lambda: self._retransmit(timer))

    def _end(self) -> None:
        if self.state is State.COMPLETED or not self.acknowledged:
            self._give_up()
        else:
            self._terminate()


class NonInviteServerTransaction(ServerTransaction):
    """RFC 3261 §17.2.2 (Figure 8): the last response is resent for each retransmitted request;
    Timer J (64*T1 on UDP) keeps the Completed state to absorb them."""

    def receive_request(self, request: Request) -> None:
        if self.state in (State.PROCEEDING, State.COMPLETED) and self.last_response is not None:
            self._send(self.last_response)

    def respond(self, response: Response) -> None:
        if self.state not in (State.TRYING, State.PROCEEDING):
            return
        self.last_response = response
        self._send(response)
        if response.status < 200:
            self.state = State.PROCEEDING
        else:
            self.state = State.COMPLETED
            self._linger("J", self._settings.transaction_timeout)
