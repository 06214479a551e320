"""A SIP peer written from RFC 3261's text, for the wiring tests: it sends messages as literal
strings and reads responses with a few lines of splitting, and sends and counts RTP with
``struct``: none of ``aybiza.telephony.sip`` is used, so what the server sends is checked by
something other than its own parser."""

from __future__ import annotations

import asyncio
import secrets
import struct
from dataclasses import dataclass, field


@dataclass
class RawMessage:
    """A message as received: the first line, headers (lower-case names, in order), body."""

    first_line: str
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def status(self) -> int | None:
        parts = self.first_line.split(" ", 2)
        return int(parts[1]) if self.first_line.startswith("SIP/2.0") else None

    @property
    def method(self) -> str | None:
        return None if self.first_line.startswith("SIP/2.0") else self.first_line.split(" ")[0]

    def header(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name.lower()]


_COMPACT = {
    "v": "via",
    "f": "from",
    "t": "to",
    "i": "call-id",
    "m": "contact",
    "l": "content-length",
}


def parse_raw(data: bytes) -> RawMessage:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("utf-8").split("\r\n")
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        headers.append((_COMPACT.get(key, key), value.strip()))
    return RawMessage(lines[0], headers, body)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, inbox: asyncio.Queue[tuple[bytes, tuple[str, int]]]) -> None:
        self.inbox = inbox

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.inbox.put_nowait((data, addr))


@dataclass
class UdpPeer:
    """One UDP socket on 127.0.0.1 with an inbox of what arrived."""

    transport: asyncio.DatagramTransport
    inbox: asyncio.Queue[tuple[bytes, tuple[str, int]]]
    port: int

    @classmethod
    async def open(cls) -> UdpPeer:
        inbox: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(inbox), local_addr=("127.0.0.1", 0)
        )
        port = transport.get_extra_info("sockname")[1]
        return cls(transport, inbox, port)

    def send(self, data: bytes | str, port: int) -> None:
        payload = data.encode() if isinstance(data, str) else data
        self.transport.sendto(payload, ("127.0.0.1", port))

    async def receive(self, wait_s: float = 10.0) -> tuple[bytes, tuple[str, int]]:
        return await asyncio.wait_for(self.inbox.get(), wait_s)

    def close(self) -> None:
        self.transport.close()


@dataclass
class SipPeer:
    """A user agent on one UDP port that speaks SIP by hand to the server at ``server``."""

    udp: UdpPeer
    server: int
    call_id: str = field(default_factory=lambda: secrets.token_hex(8) + "@127.0.0.1")
    tag: str = field(default_factory=lambda: secrets.token_hex(4))
    cseq: int = 0
    remote_tag: str | None = None
    received: list[RawMessage] = field(default_factory=list)

    @classmethod
    async def open(cls, server_port: int) -> SipPeer:
        return cls(await UdpPeer.open(), server_port)

    @property
    def port(self) -> int:
        return self.udp.port

    def request(
        self,
        method: str,
        uri: str,
        *,
        to: str,
        body: str = "",
        extra: str = "",
        branch: str | None = None,
        cseq: int | None = None,
        to_tag: str | None = None,
    ) -> str:
        """Send a request; returns its branch. ``to_tag`` None sends To without a tag."""
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        branch = branch or "z9hG4bK" + secrets.token_hex(6)
        to_header = f"<{to}>" + (f";tag={to_tag}" if to_tag else "")
        content = "Content-Type: application/sdp\r\n" if body else ""
        message = (
            f"{method} {uri} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch={branch};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:+14155550100@127.0.0.1>;tag={self.tag}\r\n"
            f"To: {to_header}\r\n"
            f"Call-ID: {self.call_id}\r\n"
            f"CSeq: {cseq} {method}\r\n"
            f"Contact: <sip:caller@127.0.0.1:{self.port}>\r\n"
            f"{extra}{content}Content-Length: {len(body.encode())}\r\n\r\n{body}"
        )
        self.udp.send(message, self.server)
        return branch

    async def next_message(self, wait_s: float = 10.0) -> RawMessage:
        data, _ = await self.udp.receive(wait_s)
        message = parse_raw(data)
        self.received.append(message)
        return message

    async def final_response(self, wait_s: float = 30.0) -> RawMessage:
        """The next response with status >= 200 (provisional ones are skipped)."""
        while True:
            message = await self.next_message(wait_s)
            if message.status is not None and message.status >= 200:
                to = message.header("to") or ""
                if ";tag=" in to:
                    self.remote_tag = to.split(";tag=")[1].split(";")[0]
                return message

    async def next_request(self, wait_s: float = 10.0) -> RawMessage:
        while True:
            message = await self.next_message(wait_s)
            if message.method is not None:
                return message

    def respond(self, request: RawMessage, status: int, reason: str, body: str = "") -> None:
        """Answer a request from the server, copying Via, From, To, Call-ID and CSeq."""
        lines = [f"SIP/2.0 {status} {reason}"]
        lines += [f"Via: {value}" for value in request.all("via")]
        for name in ("from", "to", "call-id", "cseq"):
            lines.append(f"{name.title()}: {request.header(name)}")
        if body:
            lines.append("Content-Type: message/sipfrag")
        lines.append(f"Content-Length: {len(body.encode())}")
        self.udp.send("\r\n".join(lines) + "\r\n\r\n" + body, self.server)

    def close(self) -> None:
        self.udp.close()


def sdp_offer(rtp_port: int, *, codecs: str = "0 101") -> str:
    lines = [
        "v=0",
        "o=caller 1 1 IN IP4 127.0.0.1",
        "s=-",
        "c=IN IP4 127.0.0.1",
        "t=0 0",
        f"m=audio {rtp_port} RTP/AVP {codecs}",
    ]
    if "0" in codecs.split():
        lines.append("a=rtpmap:0 PCMU/8000")
    if "18" in codecs.split():
        lines.append("a=rtpmap:18 G729/8000")
    if "101" in codecs.split():
        lines += ["a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16"]
    lines += ["a=ptime:20", "a=sendrecv"]
    return "\r\n".join(lines) + "\r\n"


def sdp_port(body: bytes) -> int:
    for line in body.decode().split("\r\n"):
        if line.startswith("m=audio "):
            return int(line.split()[1])
    raise AssertionError(f"no m=audio line in {body!r}")


def rtp_packet(
    sequence: int, timestamp: int, payload: bytes, *, pt: int = 0, marker: bool = False
) -> bytes:
    return (
        struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, sequence, timestamp, 0x1234)
        + payload
    )


def dtmf_packets(digit: int, sequence: int, timestamp: int) -> list[bytes]:
    """RFC 4733 §2.3: a 100 ms event as five 20 ms updates and three end packets."""
    packets = []
    for index in range(5):
        body = struct.pack("!BBH", digit, 10, 160 * (index + 1))
        packets.append(rtp_packet(sequence + index, timestamp, body, pt=101, marker=index == 0))
    for index in range(3):
        body = struct.pack("!BBH", digit, 0x80 | 10, 800)
        packets.append(rtp_packet(sequence + 5 + index, timestamp, body, pt=101))
    return packets
