"""Dialing like Twilio: the signed webhook, the TwiML, then the signed stream upgrade."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

import pytest
from twilio.request_validator import RequestValidator

from aybiza.simulator.errors import (
    NoStreamError,
    ServerUnreachableError,
    StreamRejectedError,
    WebhookError,
)
from aybiza.simulator.twilio_client import SimulatedCall

if TYPE_CHECKING:
    from .conftest import AppPeer, FakeAppFactory, FakeHttpServer

TOKEN = "test-auth-token"


async def test_dial_signs_the_webhook_and_the_stream_and_passes_parameters(
    fake_app: FakeAppFactory, fake_http: type[FakeHttpServer]
) -> None:
    async with fake_app() as app:
        stream_url = app.url.replace("ws://", "wss://")
        async with fake_http(
            stream_url=stream_url, auth_token=TOKEN, parameters={"agent": "demo"}
        ) as server:
            call = await SimulatedCall.dial(server.base_url, to="+15005550006", auth_token=TOKEN)
            peer = await app.peer()
            await call.hangup()

    assert server.signature_ok == [True]
    form = dict(parse_qsl(server.requests[0].body.decode()))
    assert form["CallSid"] == call.call_sid and call.call_sid.startswith("CA")
    assert form["AccountSid"] == call.account_sid and call.account_sid.startswith("AC")
    assert form["To"] == form["Called"] == "+15005550006"
    assert form["From"] == form["Caller"] == "+15558675310"
    assert (form["CallStatus"], form["ApiVersion"], form["Direction"]) == (
        "ringing",
        "2010-04-01",
        "inbound",
    )
    # The stream is signed over the wss:// URL exactly as the TwiML wrote it, without params.
    signature = peer.headers["X-Twilio-Signature"]
    assert RequestValidator(TOKEN).validate(stream_url, {}, signature)
    assert peer.path == "/twilio/stream"
    assert call.custom_parameters == {"agent": "demo"}
    assert "<Stream" in call.twiml
    start = peer.of("start")[0][1]["start"]
    assert start["customParameters"] == {"agent": "demo"}
    assert start["callSid"] == call.call_sid


async def test_a_wrong_auth_token_is_refused_with_a_hint(
    fake_app: FakeAppFactory, fake_http: type[FakeHttpServer]
) -> None:
    async with fake_app() as app, fake_http(stream_url=app.url, auth_token=TOKEN) as server:
        with pytest.raises(WebhookError, match="--auth-token") as caught:
            await SimulatedCall.dial(server.base_url, to="+15005550006", auth_token="wrong")
    assert caught.value.status_code == 403
    assert server.signature_ok == [False]


async def test_unknown_number_gets_no_stream(
    fake_app: FakeAppFactory, fake_http: type[FakeHttpServer]
) -> None:
    async with fake_app() as app, fake_http(stream_url=app.url) as server:
        with pytest.raises(NoStreamError, match="not in service") as caught:
            await SimulatedCall.dial(server.base_url, to="+19999999999")
    assert caught.value.spoken == ["This number is not in service."]
    assert app.peers == []


async def test_refused_connection_says_to_start_the_server() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ServerUnreachableError, match="make run"):
        await SimulatedCall.dial(f"http://127.0.0.1:{port}", to="+15005550006")


async def test_rejected_upgrade_reports_the_http_status(
    fake_app: FakeAppFactory, fake_http: type[FakeHttpServer]
) -> None:
    async with fake_app() as app, fake_http(stream_url=app.url) as server:
        # The HTTP fake does not speak WebSocket: point the stream at it to get a 404.
        with pytest.raises(StreamRejectedError) as caught:
            await SimulatedCall.connect_stream(server.base_url.replace("http", "ws") + "/x")
    assert caught.value.status_code == 404


async def test_a_stream_closed_at_once_comes_back_ended_with_the_code(
    fake_app: FakeAppFactory,
) -> None:
    async def refuse(peer: AppPeer) -> None:
        await peer.ws.close(1008, "bad signature")

    async with fake_app(refuse) as app:
        call = await SimulatedCall.connect_stream(app.url, auth_token="wrong")
        await call.wait_until_ended(timeout=3)
    assert call.closed_by_server
    assert (call.close_code, call.close_reason) == (1008, "bad signature")
