"""SIP over real loopback sockets (127.0.0.1 only): UDP, TCP and TLS listeners, Via received
and rport, response routing (RFC 3261 §18.2.2, RFC 3581), framing, and calls end to end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.fakes.tls import issue
from tests.telephony.sip.uas import LoopbackUas

from aybiza.telephony.sip.dialog import Dialog, DialogState
from aybiza.telephony.sip.endpoint import SipEndpoint
from aybiza.telephony.sip.headers import CSeq, NameAddr, new_tag
from aybiza.telephony.sip.message import Request, Response, parse
from aybiza.telephony.sip.transaction import Failure
from aybiza.telephony.sip.transport import Peer
from aybiza.telephony.sip.uri import SipUri

TORTURE = Path(__file__).parent / "torture"


class Calls:
    """Both ends of a loopback call: a UAS endpoint and a UAC endpoint."""

    def __init__(
        self, uas: LoopbackUas, server: SipEndpoint, client_user: LoopbackUas, client: SipEndpoint
    ) -> None:
        self.uas, self.server = uas, server
        self.client_user, self.client = client_user, client

    def address(self, transport: str) -> tuple[str, int]:
        address = self.server.transport(transport).local_address
        assert address is not None
        return address

    def peer(self, transport: str) -> Peer:
        return Peer(transport, *self.address(transport))

    def request(self, method: str, transport: str, number: int = 1) -> Request:
        peer = self.peer(transport)
        uri = SipUri(peer.host, "+15005550006", peer.port)
        contact = SipUri("127.0.0.1", "caller", self.client.transport(transport).sent_by.port)
        return Request(
            method=method,
            uri=uri,
            via=[self.client.transport(transport).via()],
            from_=NameAddr(SipUri("127.0.0.1", "caller"), "Caller", {"tag": new_tag()}),
            to=NameAddr(SipUri(peer.host, "+15005550006")),
            call_id=f"{new_tag()}@127.0.0.1",
            cseq=CSeq(number, method),
            contact=[NameAddr(contact)] if method == "INVITE" else [],
        )

    async def send(self, request: Request, transport: str) -> list[Response]:
        """Send in a client transaction; the responses up to the final one."""
        responses: list[Response] = []
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_response(response: Response) -> None:
            responses.append(response)
            if response.status >= 200 and not done.done():
                done.set_result(None)

        def on_failure(kind: Failure) -> None:
            if not done.done():
                done.set_exception(AssertionError(f"transaction failed: {kind}"))

        self.client.send_request(
            request, self.peer(transport), on_response=on_response, on_failure=on_failure
        )
        await asyncio.wait_for(done, 10)
        return responses


class QuietUser(LoopbackUas):
    """The client side's transaction user: records strays and requests, answers nothing."""


@pytest.fixture
async def calls(tmp_path: Path) -> AsyncIterator[Calls]:
    certificates = issue(tmp_path, "localhost")
    uas = LoopbackUas()
    server = SipEndpoint(uas)
    uas.endpoint = server
    client_user = QuietUser()
    client = SipEndpoint(client_user)
    client_user.endpoint = client
    for endpoint in (server, client):
        await endpoint.listen("UDP", "127.0.0.1", 0)
        await endpoint.listen("TCP", "127.0.0.1", 0)
        await endpoint.listen(
            "TLS",
            "127.0.0.1",
            0,
            server_ssl=certificates.server_context(),
            client_ssl=certificates.client_context(),
            server_hostname="localhost",
        )
    yield Calls(uas, server, client_user, client)
    await client.close()
    await server.close()


@pytest.mark.parametrize("transport", ["UDP", "TCP", "TLS"])
async def test_options_is_answered_200_over_each_transport(calls: Calls, transport: str) -> None:
    responses = await calls.send(calls.request("OPTIONS", transport), transport)
    assert [r.status for r in responses] == [200]
    assert "INVITE" in (responses[0].headers.get("Allow") or "")


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
async def test_invite_ack_bye_call_completes_with_a_dialog_on_each_side(
    calls: Calls, transport: str
) -> None:
    invite = calls.request("INVITE", transport)
    invite.headers.add("X-Customer-Id", "42")
    responses = await calls.send(invite, transport)
    assert [r.status for r in responses] == [100, 180, 200]
    ok = responses[-1]
    assert ok.body.startswith(b"v=0") and ok.to.tag
    dialog = Dialog.as_uac(invite, ok)
    via = calls.client.transport(transport).via
    calls.client.send_stateless(dialog.ack(invite.cseq.number, via()), calls.peer(transport))
    bye = dialog.bye(via())
    assert [r.status for r in await calls.send(bye, transport)] == [200]
    assert calls.uas.events == ["INVITE", "ACK", "ACK-2xx", "BYE"]
    assert calls.uas.x_headers == [{"X-Customer-Id": "42"}]
    (server_dialog,) = calls.uas.dialogs.values()
    assert server_dialog.state is DialogState.TERMINATED and server_dialog.remote_cseq == 2


async def test_cancel_before_answer_gets_200_and_the_invite_487(calls: Calls) -> None:
    calls.uas.answer = False
    invite = calls.request("INVITE", "UDP")
    loop = asyncio.get_running_loop()
    final: asyncio.Future[Response] = loop.create_future()
    ringing: asyncio.Future[None] = loop.create_future()

    def on_response(response: Response) -> None:
        if response.status == 180:
            ringing.set_result(None)
        elif response.status >= 200:
            final.set_result(response)

    calls.client.send_request(
        invite, calls.peer("UDP"), on_response=on_response, on_failure=lambda kind: None
    )
    await asyncio.wait_for(ringing, 10)
    cancel = Request(
        method="CANCEL",
        uri=invite.uri,
        via=[invite.via[0]],
        from_=invite.from_,
        to=invite.to,
        call_id=invite.call_id,
        cseq=CSeq(invite.cseq.number, "CANCEL"),
    )
    assert [r.status for r in await calls.send(cancel, "UDP")] == [200]
    assert (await asyncio.wait_for(final, 10)).status == 487
    assert calls.uas.events == ["INVITE", "CANCEL"]  # the 487's ACK ends in its transaction


class RawUdp(asyncio.DatagramProtocol):
    """A bare UDP socket on loopback that keeps what it receives."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.received.put_nowait(data)


async def raw_udp() -> tuple[asyncio.DatagramTransport, RawUdp]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(RawUdp, local_addr=("127.0.0.1", 0))
    return transport, protocol


OPTIONS = (
    b"OPTIONS sip:+15005550006@127.0.0.1 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKraw1;rport\r\n"
    b"From: <sip:raw@127.0.0.1>;tag=r1\r\nTo: <sip:+15005550006@127.0.0.1>\r\n"
    b"Call-ID: raw-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
)


async def test_rport_sends_the_response_to_the_source_port_and_says_so(calls: Calls) -> None:
    socket, raw = await raw_udp()
    try:
        socket.sendto(OPTIONS, calls.address("UDP"))
        response = parse(await asyncio.wait_for(raw.received.get(), 10))
        port = socket.get_extra_info("sockname")[1]
        assert isinstance(response, Response) and response.status == 200
        assert response.via[0].rport == port and response.via[0].received == "127.0.0.1"
    finally:
        socket.close()


async def test_unparsable_request_is_answered_400_with_the_parser_reason(calls: Calls) -> None:
    socket, raw = await raw_udp()
    try:
        socket.sendto((TORTURE / "mismatch01.dat").read_bytes(), calls.address("UDP"))
        reply = await asyncio.wait_for(raw.received.get(), 10)
        assert reply.startswith(
            b"SIP/2.0 400 CSeq method 'INVITE' does not match the method 'OPTIONS'\r\n"
        )
        response = parse(reply)
        assert isinstance(response, Response) and response.call_id.startswith("mismatch01")
        assert response.to.tag  # a UAS tags its final response
    finally:
        socket.close()


async def test_response_whose_top_via_is_not_ours_is_dropped(calls: Calls) -> None:
    socket, _ = await raw_udp()
    client_udp = calls.client.transport("UDP")
    ours = calls.request("OPTIONS", "UDP").response(200)
    foreign = parse((TORTURE / "bcast.dat").read_bytes())
    try:
        address = client_udp.local_address
        assert address is not None
        socket.sendto(foreign.serialize(), address)
        socket.sendto(ours.serialize(), address)
        # Datagrams on loopback arrive in order: once ours is seen, the foreign one was too.
        for _ in range(1000):
            if calls.client_user.events:
                break
            await asyncio.sleep(0.01)
        assert calls.client_user.events == ["stray 200"]
    finally:
        socket.close()


async def test_tcp_response_returns_over_the_requests_connection(calls: Calls) -> None:
    host, port = calls.address("TCP")
    reader, writer = await asyncio.open_connection(host, port)
    try:
        # Two pipelined requests in one write, and a sent-by port nobody listens on: both
        # answers must come back over this connection.
        second = OPTIONS.replace(b"raw1", b"raw2").replace(b"1 OPTIONS", b"2 OPTIONS")
        writer.write((OPTIONS + second).replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP"))
        first_reply = parse(await asyncio.wait_for(read_message(reader), 10))
        second_reply = parse(await asyncio.wait_for(read_message(reader), 10))
        assert isinstance(first_reply, Response) and isinstance(second_reply, Response)
        assert [first_reply.cseq.number, second_reply.cseq.number] == [1, 2]
    finally:
        writer.close()


async def test_tcp_framing_error_closes_the_connection(calls: Calls) -> None:
    host, port = calls.address("TCP")
    reader, writer = await asyncio.open_connection(host, port)
    writer.write((TORTURE / "ncl.dat").read_bytes())
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()


async def read_message(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    return head + await reader.readexactly(length)
