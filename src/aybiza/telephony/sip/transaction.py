"""SIP transactions (RFC 3261 §17, with RFC 6026's Accepted state): the shared base, the keys
that match messages to transactions, and the client transactions.

A transaction owns its timers and retransmissions; it does no I/O itself: it is handed a
``send`` callable (the transport, already aimed at the peer) and a ``Clock``. Retransmissions
run only over unreliable transports (UDP); over TCP/TLS the wait timers still run.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable, Hashable
from typing import Literal, Required, TypedDict, Unpack

from aybiza.telephony.sip.headers import MAGIC_COOKIE, CSeq
from aybiza.telephony.sip.message import Message, Request, Response
from aybiza.telephony.sip.timers import Clock, TimerHandle, TimerSettings

Send = Callable[[Message], None]
Failure = Literal["timeout", "transport"]


class State(enum.Enum):
    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    ACCEPTED = "accepted"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


def _method_key(method: str) -> str:
    # An ACK for a non-2xx final response belongs to the INVITE's transaction (§17.2.3).
    return "INVITE" if method == "ACK" else method


def has_rfc3261_branch(request: Request) -> bool:
    """Whether the top Via branch is an RFC 3261 transaction id (the cookie and more)."""
    branch = request.via[0].branch or ""
    return branch.startswith(MAGIC_COOKIE) and len(branch) > len(MAGIC_COOKIE)


def server_key(request: Request, method: str | None = None) -> Hashable:
    """The server transaction a request belongs to (RFC 3261 §17.2.3).

    With an RFC 3261 branch: branch, sent-by and method. Otherwise (RFC 2543 peers, or a bare
    magic cookie as in RFC 4475 §3.2.1) the older identifiers: Request-URI, From tag, Call-ID,
    CSeq number and top Via (the To tag is left out, as an ACK carries one its INVITE had not).
    ``method`` overrides the request's (a CANCEL looks up its INVITE with "INVITE")."""
    top = request.via[0]
    wanted = _method_key(method or request.method)
    if has_rfc3261_branch(request):
        return (top.branch, top.sent_by, wanted)
    return (str(request.uri), request.from_.tag, request.call_id, request.cseq.number, str(top),
            wanted)  # fmt: skip


def client_key(message: Message) -> Hashable:
    """The client transaction a response answers (RFC 3261 §17.1.3): top branch, CSeq method."""
    return (message.via[0].branch, message.cseq.method)


class TransactionOptions(TypedDict, total=False):
    """What every transaction is built with besides its request and its way to send:
    ``clock`` and ``reliable`` (TCP/TLS) are required, ``timers`` default to RFC 3261's."""

    clock: Required[Clock]
    reliable: Required[bool]
    timers: TimerSettings | None
    on_terminated: Callable[[Transaction], None] | None


class Transaction:
    """What every transaction has: its request, state, timers and a way to send."""

    def __init__(self, request: Request, send: Send, **options: Unpack[TransactionOptions]) -> None:
        self.request = request
        self.state = State.TRYING
        self.reliable = options["reliable"]
        self._send = send
        self._clock = options["clock"]
        self._settings = options.get("timers") or TimerSettings()
        on_terminated = options.get("on_terminated")
        self._handles: dict[str, TimerHandle] = {}
        self._on_terminated = on_terminated

    def _start_timer(self, name: str, delay: float, fire: Callable[[], None]) -> None:
        self._stop_timer(name)

        def run() -> None:
            self._handles.pop(name, None)
            fire()

        self._handles[name] = self._clock.call_later(delay, run)

    def _stop_timer(self, name: str) -> None:
        handle = self._handles.pop(name, None)
        if handle is not None:
            handle.cancel()

    def _linger(self, name: str, unreliable_delay: float) -> None:
        """Absorb retransmissions for a while on UDP; end at once on a reliable transport."""
        if self.reliable:
            self._terminate()
        else:
            self._start_timer(name, unreliable_delay, self._terminate)

    def _terminate(self) -> None:
        if self.state is State.TERMINATED:
            return
        self.state = State.TERMINATED
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()
        if self._on_terminated is not None:
            self._on_terminated(self)

    @property
    def timers_running(self) -> tuple[str, ...]:
        """Names of the RFC 3261 timers now running (A, B, D, E, F, G, H, I, J, K, L, M)."""
        return tuple(sorted(self._handles))


class ClientTransaction(Transaction, abc.ABC):
    """A request we send, until its final response (or its timeout)."""

    def __init__(
        self,
        request: Request,
        send: Send,
        *,
        on_response: Callable[[Response], None],
        on_failure: Callable[[Failure], None],
        **options: Unpack[TransactionOptions],
    ) -> None:
        super().__init__(request, send, **options)
        self._on_response = on_response
        self._on_failure = on_failure
        self._interval = self._settings.t1

    @property
    def key(self) -> Hashable:
        return client_key(self.request)

    @abc.abstractmethod
    def start(self) -> None:
        """Send the request and start the retransmission and timeout timers."""

    @abc.abstractmethod
    def receive_response(self, response: Response) -> None:
        """Take a response to this transaction's request."""

    def transport_error(self) -> None:
        """The transport could not send the request (RFC 3261 §17.1.4)."""
        if self.state in (State.CALLING, State.TRYING, State.PROCEEDING):
            self._on_failure("transport")
        self._terminate()

    def _time_out(self) -> None:
        self._on_failure("timeout")
        self._terminate()

    def abandon(self) -> None:
        """Stop at once, reporting nothing more (the TU gave up on a silent next hop and
        tries another: RFC 3263 §4.3 failover)."""
        self._terminate()


class InviteClientTransaction(ClientTransaction):
    """RFC 3261 §17.1.1 (Figure 5) with RFC 6026's Accepted state.

    Timer A retransmits the INVITE (T1, doubling) until a response; Timer B gives up after
    64*T1 in Calling. A non-2xx final response is ACKed here (Timer D absorbs its
    retransmissions); a 2xx goes to the TU, which ACKs it in the dialog, and so do its
    retransmissions until Timer M."""

    def start(self) -> None:
        self.state = State.CALLING
        self._send(self.request)
        if not self.reliable:
            self._start_timer("A", self._interval, self._retransmit)
        self._start_timer("B", self._settings.transaction_timeout, self._time_out)

    def _retransmit(self) -> None:
        self._send(self.request)
        self._interval *= 2
        self._start_timer("A", self._interval, self._retransmit)

    def receive_response(self, response: Response) -> None:
        if self.state in (State.CALLING, State.PROCEEDING):
            self._stop_timer("A")
            self._stop_timer("B")
            if response.status < 200:
                self.state = State.PROCEEDING
            elif response.status < 300:
                self.state = State.ACCEPTED
                self._start_timer("M", self._settings.transaction_timeout, self._terminate)
            else:
                self.state = State.COMPLETED
                self._send(self.ack_for(response))
                self._linger("D", max(32.0, self._settings.transaction_timeout))
            self._on_response(response)
        elif self.state is State.ACCEPTED and 200 <= response.status < 300:
            self._on_response(response)
        elif self.state is State.COMPLETED and response.status >= 300:
            self._send(self.ack_for(response))

    def ack_for(self, response: Response) -> Request:
        """The ACK for a non-2xx final response (RFC 3261 §17.1.1.3): same branch, Request-URI,
        Call-ID, From and CSeq number as the INVITE; To from the response; its Route set."""
        invite = self.request
        return Request(
            method="ACK",
            uri=invite.uri,
            via=[invite.via[0]],
            from_=invite.from_,
            to=response.to,
            call_id=invite.call_id,
            cseq=CSeq(invite.cseq.number, "ACK"),
            route=list(invite.route),
            max_forwards=70,
        )


class NonInviteClientTransaction(ClientTransaction):
    """RFC 3261 §17.1.2 (Figure 6): Timer E retransmits (T1 doubling to T2; T2 once a
    provisional came), Timer F gives up after 64*T1, Timer K absorbs stray responses."""

    def start(self) -> None:
        self.state = State.TRYING
        self._send(self.request)
        if not self.reliable:
            self._start_timer("E", self._interval, self._retransmit)
        self._start_timer("F", self._settings.transaction_timeout, self._time_out)

    def _retransmit(self) -> None:
        self._send(self.request)
        if self.state is State.TRYING:
            self._interval = min(2 * self._interval, self._settings.t2)
        else:
            self._interval = self._settings.t2
        self._start_timer("E", self._interval, self._retransmit)

    def receive_response(self, response: Response) -> None:
        if self.state not in (State.TRYING, State.PROCEEDING):
            return
        if response.status < 200:
            self.state = State.PROCEEDING
        else:
            self.state = State.COMPLETED
            self._stop_timer("E")
            self._stop_timer("F")
            self._linger("K", self._settings.t4)
        self._on_response(response)
