"""TLS to a checked address: the socket goes to the address the guard checked, while the TLS
server name and the certificate check use the URL's host name (a receiver on loopback, with a
certificate from a throwaway CA for that name)."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from tests.fakes.loopback import LOOPBACK_CIDRS, LoopbackOnlyNetwork, StubResolver
from tests.fakes.tls import IssuedCertificates, issue

from aybiza.outbound.guard import Guard
from aybiza.outbound.sender import OutboundError, OutboundRequest, Sender

NAME = "hooks.example.test"


@pytest.fixture
def certificates(tmp_path: Path) -> IssuedCertificates:
    return issue(tmp_path, NAME)


@pytest.fixture
async def https_port(certificates: IssuedCertificates) -> AsyncIterator[int]:
    """An HTTPS receiver on 127.0.0.1 answering 200 with the name the client asked for."""

    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"host": request.host})

    app = web.Application()
    app.router.add_post("/hook", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock, ssl_context=certificates.server_context()).start()
    try:
        yield sock.getsockname()[1]
    finally:
        await runner.cleanup()


async def test_tls_checks_the_certificate_against_the_name_while_connecting_to_the_address(
    certificates: IssuedCertificates, https_port: int
) -> None:
    dns = StubResolver({NAME: [["127.0.0.1"]], "other.example.test": [["127.0.0.1"]]})
    network = LoopbackOnlyNetwork()
    guard = Guard(LOOPBACK_CIDRS, resolver=dns)
    sender = Sender(guard, network=network, ssl_context=certificates.client_context())
    try:
        response = await sender.send(
            OutboundRequest("POST", f"https://{NAME}:{https_port}/hook", body=b"{}"), timeout_s=5
        )
        with pytest.raises(OutboundError) as mismatch:
            await sender.send(
                OutboundRequest("POST", f"https://other.example.test:{https_port}/hook"),
                timeout_s=5,
            )
    finally:
        await sender.aclose()
    assert response.ok and json.loads(response.body) == {"host": f"{NAME}:{https_port}"}
    assert mismatch.value.kind == "connection"
    assert "CERTIFICATE_VERIFY_FAILED" in mismatch.value.message
    assert network.connected == [("127.0.0.1", https_port)] * 2
