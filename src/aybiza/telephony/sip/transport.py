"""SIP over UDP, TCP and TLS with asyncio (RFC 3261 §18, RFC 3581).

A transport listens, hands each parsed message to a ``MessageHandler`` with the ``Peer`` it came
from, and sends messages. On the way in, a request's top Via gets ``received`` (and ``rport``
when asked for); a response whose top Via is not ours is dropped (§18.1.2); a request that does
not parse is answered 400 with the parser's reason when enough of it survives. On the way out,
a response goes where §18.2.2 and RFC 3581 say: back over the request's connection on TCP/TLS
while it is open, else to the Via's ``received`` address and ``rport`` (or sent-by port).
Hosts are IP addresses here; resolving names (RFC 3263) is the caller's job.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import ipaddress
import ssl
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, cast

from aybiza.telephony.sip.framing import SipFramingError, StreamFramer
from aybiza.telephony.sip.headers import Via, new_branch
from aybiza.telephony.sip.message import Message, Request, Response, bad_request_for, parse
from aybiza.telephony.sip.syntax import SipParseError

DEFAULT_PORTS = {"UDP": 5060, "TCP": 5060, "TLS": 5061}


@dataclass(frozen=True, slots=True)
class Peer:
    """The other end of a message: transport name, IP address and port."""

    transport: str
    host: str
    port: int


class MessageHandler(Protocol):
    """What a transport tells the layer above it."""

    def request_received(self, request: Request, peer: Peer, transport: SipTransport) -> None: ...

    def response_received(
        self, response: Response, peer: Peer, transport: SipTransport
    ) -> None: ...

    def send_failed(self, message: Message, peer: Peer, error: OSError) -> None: ...


def _bare(host: str) -> str:
    return host[1:-1] if host.startswith("[") else host


def _same_address(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(_bare(a)) == ipaddress.ip_address(_bare(b))
    except ValueError:
        return a.lower() == b.lower()


def stamp_received(request: Request, peer: Peer) -> None:
    """RFC 3261 §18.2.1 and RFC 3581 §4: note on the top Via where the request really came
    from, so the response finds its way back through NAT."""
    top = request.via[0]
    if top.wants_rport:
        top.params["rport"] = str(peer.port)
        top.params["received"] = peer.host
    elif not _same_address(top.host, peer.host):
        top.params["received"] = peer.host


def response_destination(via: Via, transport: str) -> tuple[str, int]:
    """Where a response to a request with this top Via goes (RFC 3261 §18.2.2, RFC 3581)."""
    default = DEFAULT_PORTS.get(transport, 5060)
    maddr = via.params.get("maddr")
    if maddr:
        return _bare(maddr), via.port or default
    host = via.received or via.host
    return _bare(host), via.rport or via.port or default


def response_is_ours(response: Response, local: Via) -> bool:
    """RFC 3261 §18.1.2: a response whose top Via sent-by is not this transport's is dropped."""
    top = response.via[0]
    default = DEFAULT_PORTS.get(local.transport, 5060)
    return _same_address(top.host, local.host) and (top.port or default) == (local.port or default)


class SipTransport(abc.ABC):
    """What UDP and stream transports share: the handler, the public sent-by, message intake."""

    name = "UDP"
    reliable = False

    def __init__(self, handler: MessageHandler, public_host: str | None = None) -> None:
        self._handler = handler
        self._public_host = public_host
        self.local_address: tuple[str, int] | None = None

    @property
    def sent_by(self) -> Via:
        """This transport's sent-by (public host and listening port), without parameters."""
        if self.local_address is None:
            raise RuntimeError("the transport is not listening")
        host = self._public_host or self.local_address[0]
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return Via(self.name, host, self.local_address[1])

    def via(self, branch: str | None = None) -> Via:
        """A Via for a request sent from here: public sent-by, a new branch, rport asked for."""
        via = self.sent_by
        via.params = {"branch": branch or new_branch(), "rport": None}
        return via

    @abc.abstractmethod
    def send(self, message: Message, peer: Peer) -> None:
        """Send ``message`` to ``peer`` (failures go to the handler's ``send_failed``)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop listening and close every connection."""

    def send_response(self, response: Response, peer: Peer | None = None) -> None:
        """Send a response where RFC 3261 §18.2.2 says (``peer``: where its request came from)."""
        host, port = response_destination(response.via[0], self.name)
        self.send(response, Peer(self.name, host, port))

    def _intake(self, data: bytes, peer: Peer) -> bytes | None:
        """Parse and hand on one message; the bytes of a 400 to send back when it is refused."""
        try:
            message = parse(data)
        except SipParseError as error:
            return bad_request_for(data, error)
        if isinstance(message, Request):
            stamp_received(message, peer)
            self._handler.request_received(message, peer, self)
        elif response_is_ours(message, self.sent_by):
            self._handler.response_received(message, peer, self)
        return None


class UdpTransport(SipTransport, asyncio.DatagramProtocol):
    """SIP over UDP: one socket receives and sends (so replies leave from the listening port)."""

    def __init__(self, handler: MessageHandler, public_host: str | None = None) -> None:
        super().__init__(handler, public_host)
        self._socket: asyncio.DatagramTransport | None = None

    async def start(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=(host, port))
        assert self._socket is not None
        self.local_address = self._socket.get_extra_info("sockname")[:2]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's selector datagram transport does not subclass DatagramTransport.
        self._socket = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        peer = Peer("UDP", str(addr[0]), int(addr[1]))
        refusal = self._intake(data, peer)
        if refusal is not None and self._socket is not None:
            self._socket.sendto(refusal, (peer.host, peer.port))

    def error_received(self, exc: Exception) -> None:
        # ICMP errors (port unreachable) reach no transaction on an unconnected socket; the
        # transaction's own timers cover the loss.
        return

    def send(self, message: Message, peer: Peer) -> None:
        if self._socket is None:
            raise RuntimeError("the UDP transport is not listening")
        try:
            self._socket.sendto(message.serialize(), (peer.host, peer.port))
        except OSError as error:
            self._handler.send_failed(message, peer, error)

    async def close(self) -> None:
        if self._socket is not None:
            self._socket.close()


class StreamTransport(SipTransport):
    """SIP over TCP, or TLS when given SSL contexts: a listener and a connection per peer,
    each framed by Content-Length. Connections are reused for both directions."""

    reliable = True

    def __init__(
        self,
        handler: MessageHandler,
        public_host: str | None = None,
        *,
        server_ssl: ssl.SSLContext | None = None,
        client_ssl: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> None:
        super().__init__(handler, public_host)
        self.name = "TLS" if server_ssl or client_ssl else "TCP"
        self._server_ssl = server_ssl
        self._client_ssl = client_ssl
        self._server_hostname = server_hostname
        self._server: asyncio.Server | None = None
        self._connections: dict[tuple[str, int], asyncio.StreamWriter] = {}
        self._pending: dict[tuple[str, int], asyncio.Task[asyncio.StreamWriter]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._accept, host, port, ssl=self._server_ssl)
        self.local_address = self._server.sockets[0].getsockname()[:2]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = writer.get_extra_info("peername")[:2]
        await self._read(reader, writer, (str(host), int(port)))

    async def _read(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, key: tuple[str, int]
    ) -> None:
        self._connections[key] = writer
        peer = Peer(self.name, *key)
        framer = StreamFramer()
        try:
            while data := await reader.read(65536):
                for raw in framer.feed(data):
                    refusal = self._intake(raw, peer)
                    if refusal is not None:
                        writer.write(refusal)
        except (SipFramingError, OSError, ssl.SSLError):
            # A broken frame cannot be resynchronised on a stream (RFC 4475 §3.1.2.2): close.
            pass
        finally:
            if self._connections.get(key) is writer:
                del self._connections[key]
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()

    async def connect(self, host: str, port: int) -> asyncio.StreamWriter:
        """The open connection to ``host:port``, opening one if there is none."""
        key = (host, port)
        if key in self._connections:
            return self._connections[key]
        if key not in self._pending:
            self._pending[key] = asyncio.ensure_future(self._open(key))
        try:
            return await asyncio.shield(self._pending[key])
        finally:
            self._pending.pop(key, None)

    async def _open(self, key: tuple[str, int]) -> asyncio.StreamWriter:
        reader, writer = await asyncio.open_connection(
            key[0],
            key[1],
            ssl=self._client_ssl,
            server_hostname=(self._server_hostname or key[0]) if self._client_ssl else None,
        )
        self._spawn(self._read(reader, writer, key))
        return writer

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def send(self, message: Message, peer: Peer) -> None:
        writer = self._connections.get((peer.host, peer.port))
        if writer is not None and not writer.is_closing():
            writer.write(message.serialize())
            return
        self._spawn(self._send_after_connect(message, peer))

    async def _send_after_connect(self, message: Message, peer: Peer) -> None:
        try:
            writer = await self.connect(peer.host, peer.port)
            writer.write(message.serialize())
        except (OSError, ssl.SSLError) as error:
            self._handler.send_failed(message, peer, error)

    def send_response(self, response: Response, peer: Peer | None = None) -> None:
        # §18.2.2: the connection the request came on, while it is open.
        if peer is not None and (peer.host, peer.port) in self._connections:
            self.send(response, peer)
            return
        super().send_response(response, peer)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._connections.values()):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
