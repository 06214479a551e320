"""SIP over TCP and TLS to a running server: a call to the demo agent answered and hung up over
one connection each, with the Contact naming the transport. Loopback only."""

from __future__ import annotations

import asyncio
import secrets
import ssl
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from tests.e2e.server_process import RunningServer, free_port, running_server
from tests.fakes.tls import issue
from tests.telephony.sip.raw_peer import RawMessage, UdpPeer, parse_raw, sdp_offer

DEMO = "+15005550006"
TLS_NAME = "sip.aybiza.test"


@dataclass
class Stack:
    server: RunningServer
    tcp: int
    tls: int
    client_tls: ssl.SSLContext


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    directory = tmp_path_factory.mktemp("sip-tls")
    certificates = issue(directory, TLS_NAME)
    tcp, tls = free_port(), free_port()
    first = 30000 + (tcp % 300) * 100 + 25
    env = {
        "AYBIZA_SIP_LISTEN": f"tcp:127.0.0.1:{tcp},tls:127.0.0.1:{tls}",
        "AYBIZA_SIP_TLS_CERT": str(certificates.cert),
        "AYBIZA_SIP_TLS_KEY": str(certificates.key),
        "AYBIZA_RTP_PORTS": f"{first}-{first + 24}",
    }
    with running_server(directory, env) as server:
        yield Stack(server, tcp, tls, certificates.client_context())


async def _read(reader: asyncio.StreamReader) -> RawMessage:
    """One message from the stream, framed by Content-Length (RFC 3261 §18.3)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    message = parse_raw(head)
    body = await reader.readexactly(int(message.header("content-length") or 0))
    return parse_raw(head + body)


async def _call_over(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, transport: str, port: int
) -> tuple[RawMessage, str]:
    media = await UdpPeer.open()
    call_id, tag = secrets.token_hex(8) + "@127.0.0.1", secrets.token_hex(4)
    uri = f"sip:{DEMO}@127.0.0.1:{port};transport={transport.lower()}"
    local = writer.get_extra_info("sockname")

    def request(method: str, cseq: int, to_tag: str = "", body: str = "") -> None:
        content = "Content-Type: application/sdp\r\n" if body else ""
        branch = "z9hG4bK" + secrets.token_hex(6)
        writer.write(
            (
                f"{method} {uri} SIP/2.0\r\n"
                f"Via: SIP/2.0/{transport} 127.0.0.1:{local[1]};branch={branch}\r\n"
                f"Max-Forwards: 70\r\nFrom: <sip:+14155550100@127.0.0.1>;tag={tag}\r\n"
                f"To: <sip:{DEMO}@127.0.0.1>{';tag=' + to_tag if to_tag else ''}\r\n"
                f"Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n"
                f"Contact: <sip:caller@127.0.0.1:{local[1]};transport={transport.lower()}>\r\n"
                f"{content}Content-Length: {len(body)}\r\n\r\n{body}"
            ).encode()
        )

    request("INVITE", 1, body=sdp_offer(media.port))
    ok = await _read(reader)
    while ok.status is not None and ok.status < 200:
        ok = await _read(reader)
    assert ok.status == 200, ok.first_line
    remote_tag = (ok.header("to") or "").split(";tag=")[1]
    request("ACK", 1, remote_tag)
    await asyncio.sleep(0.5)
    request("BYE", 2, remote_tag)
    bye_ok = await _read(reader)
    assert bye_ok.status == 200 and "BYE" in (bye_ok.header("cseq") or "")
    media.close()
    writer.close()
    return ok, call_id


async def _ended(server: RunningServer, call_id: str) -> dict[str, object]:
    async with httpx.AsyncClient(
        base_url=server.base_url, headers={"Authorization": f"Bearer {server.api_key}"}
    ) as api:
        for _ in range(100):
            record: dict[str, object] = (await api.get(f"/v1/calls/{call_id}")).json()
            if record.get("ended_at"):
                return record
            await asyncio.sleep(0.1)
    raise AssertionError(f"call {call_id} did not end")


async def test_a_call_over_tcp(stack: Stack) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", stack.tcp)
    ok, call_id = await _call_over(reader, writer, "TCP", stack.tcp)
    assert "transport=tcp" in (ok.header("contact") or "")
    record = await _ended(stack.server, call_id)
    assert record["carrier"] == "sip" and record["ended_reason"] == "caller-hangup"


async def test_a_call_over_tls(stack: Stack) -> None:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", stack.tls, ssl=stack.client_tls, server_hostname=TLS_NAME
    )
    assert writer.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
    ok, call_id = await _call_over(reader, writer, "TLS", stack.tls)
    assert "transport=tls" in (ok.header("contact") or "")
    record = await _ended(stack.server, call_id)
    assert record["carrier"] == "sip" and record["ended_reason"] == "caller-hangup"


def test_a_tls_listener_without_a_certificate_is_refused_with_the_fix(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    env = {"AYBIZA_SIP_LISTEN": f"tls:127.0.0.1:{free_port()}"}
    with pytest.raises(RuntimeError) as refused, running_server(tmp_path_factory.mktemp("x"), env):
        pass
    assert "AYBIZA_SIP_TLS_CERT" in str(refused.value)
