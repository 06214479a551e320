"""One SIP endpoint: its transports and its transaction table, joined (RFC 3261 §17-§18).

Requests and responses from any transport go through the transaction table; what it does not
absorb reaches the ``TransactionUser`` (the user agent core: dialogs, calls). Requests the TU
sends get a client transaction aimed at a ``Peer``; the ACK for a 2xx goes out without one.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Protocol

from aybiza.telephony.sip.message import Message, Request, Response
from aybiza.telephony.sip.server_transaction import ServerTransaction
from aybiza.telephony.sip.timers import Clock, TimerSettings
from aybiza.telephony.sip.transaction import ClientTransaction, Failure
from aybiza.telephony.sip.transaction_table import IncomingRequest, TransactionTable
from aybiza.telephony.sip.transport import Peer, SipTransport, StreamTransport, UdpTransport


class TransactionUser(Protocol):
    """The layer above the transactions: a user agent core."""

    def request_received(self, incoming: IncomingRequest, peer: Peer) -> None:
        """A new request (or an ACK): answer through ``incoming.transaction``."""

    def stray_response(self, response: Response, peer: Peer) -> None:
        """A response no transaction wanted, such as a 2xx retransmitted after Timer M."""

    def server_timeout(self, transaction: ServerTransaction) -> None:
        """Our final response was never acknowledged (Timer H, or L for a 2xx)."""


class SipEndpoint:
    """Transports (UDP, TCP, TLS) and the transactions running over them."""

    def __init__(
        self,
        user: TransactionUser,
        *,
        clock: Clock | None = None,
        timers: TimerSettings | None = None,
        public_host: str | None = None,
    ) -> None:
        self._user = user
        self._public_host = public_host
        self._transports: dict[str, SipTransport] = {}
        self.transactions = TransactionTable(
            clock or asyncio.get_running_loop(), timers, on_server_timeout=user.server_timeout
        )

    async def listen(
        self,
        transport: str,
        host: str,
        port: int,
        *,
        server_ssl: ssl.SSLContext | None = None,
        client_ssl: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> SipTransport:
        """Start a listener for ``transport`` ("UDP", "TCP" or "TLS") on host:port; for TLS,
        ``client_ssl`` and ``server_hostname`` verify the peers we connect to."""
        name = transport.upper()
        listener: UdpTransport | StreamTransport
        if name == "UDP":
            listener = UdpTransport(self, self._public_host)
        elif name == "TCP":
            listener = StreamTransport(self, self._public_host)
        elif name == "TLS":
            if server_ssl is None:
                raise ValueError("a TLS listener needs a server SSL context")
            listener = StreamTransport(
                self,
                self._public_host,
                server_ssl=server_ssl,
                client_ssl=client_ssl,
                server_hostname=server_hostname,
            )
        else:
            raise ValueError(f"transport must be UDP, TCP or TLS, got {transport!r}")
        await listener.start(host, port)
        self._transports[name] = listener
        return listener

    def transport(self, name: str) -> SipTransport:
        """The listener for ``name``; KeyError when there is none."""
        return self._transports[name.upper()]

    def send_request(
        self,
        request: Request,
        peer: Peer,
        *,
        on_response: Callable[[Response], None],
        on_failure: Callable[[Failure], None],
    ) -> ClientTransaction:
        """Send ``request`` to ``peer`` in a new client transaction; its top Via must be this
        endpoint's (``transport(peer.transport).via()``)."""
        transport = self.transport(peer.transport)
        return self.transactions.send_request(
            request,
            lambda message: transport.send(message, peer),
            reliable=transport.reliable,
            on_response=on_response,
            on_failure=on_failure,
        )

    def send_stateless(self, message: Message, peer: Peer) -> None:
        """Send without a transaction (the ACK for a 2xx, RFC 3261 §13.2.2.4)."""
        self.transport(peer.transport).send(message, peer)

    async def close(self) -> None:
        for transport in self._transports.values():
            await transport.close()
        self._transports.clear()

    # MessageHandler: what the transports report.

    def request_received(self, request: Request, peer: Peer, transport: SipTransport) -> None:

        def respond(message: Message) -> None:
            assert isinstance(message, Response)
            transport.send_response(message, peer)

        incoming = self.transactions.receive_request(request, respond, reliable=transport.reliable)
        if incoming is not None:
            self._user.request_received(incoming, peer)

    def response_received(self, response: Response, peer: Peer, transport: SipTransport) -> None:
        if not self.transactions.receive_response(response):
            self._user.stray_response(response, peer)

    def send_failed(self, message: Message, peer: Peer, error: OSError) -> None:
        if isinstance(message, Request):
            self.transactions.transport_error(message)
