"""Fakes of the AYBIZA server for the simulator's tests, at the network edge, as fixtures.

``fake_app`` is a Media Streams application (a real ``websockets`` server) whose behaviour each
test scripts: it records what the simulated Twilio sends and sends media, marks and clears like
the lead's server. ``FakeHttpServer`` answers the incoming-call webhook and the call record on a
real socket (stdlib asyncio), checking the signature with twilio's RequestValidator.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import pytest
from twilio.request_validator import RequestValidator
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

Message = dict[str, Any]


class AppPeer:
    """The application's end of one stream: what arrived (with times) and ways to answer."""

    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws
        assert ws.request is not None
        self.path = ws.request.path
        self.headers = ws.request.headers
        self.received: list[tuple[float, Message]] = []
        self.closed = False
        self._changed = asyncio.Event()

    async def receive_all(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for data in self.ws:
                assert isinstance(data, str), "Twilio sends text frames only"
                self.received.append((time.monotonic(), json.loads(data)))
                self._changed.set()
        self.closed = True
        self._changed.set()

    def of(self, event: str) -> list[tuple[float, Message]]:
        """Every message of one kind received so far, with its arrival time."""
        return [(t, m) for t, m in self.received if m["event"] == event]

    async def wait_for(self, check: Callable[[AppPeer], bool], within_s: float = 3.0) -> None:
        """Wait until ``check(self)`` holds."""
        async with asyncio.timeout(within_s):
            while not check(self):
                self._changed.clear()
                await self._changed.wait()

    async def wait_for_mark(self, name: str, within_s: float = 3.0) -> float:
        """Wait for the echo of mark ``name``; return when it arrived."""
        await self.wait_for(
            lambda p: any(m["mark"]["name"] == name for _, m in p.of("mark")), within_s
        )
        return next(t for t, m in self.of("mark") if m["mark"]["name"] == name)

    @property
    def stream_sid(self) -> str:
        start = self.of("start")
        assert start, "no start message yet"
        sid: str = start[0][1]["streamSid"]
        return sid

    async def send_media(self, mulaw: bytes) -> float:
        payload = base64.b64encode(mulaw).decode()
        event = {"event": "media", "streamSid": self.stream_sid, "media": {"payload": payload}}
        await self.ws.send(json.dumps(event))
        return time.monotonic()

    async def send_mark(self, name: str) -> float:
        event = {"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}}
        await self.ws.send(json.dumps(event))
        return time.monotonic()

    async def send_clear(self) -> float:
        await self.ws.send(json.dumps({"event": "clear", "streamSid": self.stream_sid}))
        return time.monotonic()


Behaviour = Callable[[AppPeer], Awaitable[None]]
FakeAppFactory = Callable[..., contextlib.AbstractAsyncContextManager["FakeApp"]]


@dataclass
class FakeApp:
    """A running fake application; ``peers`` fill in as streams connect."""

    url: str
    peers: list[AppPeer] = field(default_factory=list)
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    async def peer(self, within_s: float = 3.0) -> AppPeer:
        """The first stream's peer, once it has connected."""
        async with asyncio.timeout(within_s):
            await self.connected.wait()
        return self.peers[0]


async def _idle(peer: AppPeer) -> None:
    await peer.ws.wait_closed()


@contextlib.asynccontextmanager
async def serve_fake_app(behaviour: Behaviour = _idle) -> AsyncIterator[FakeApp]:
    """Serve a Media Streams application at ``ws://127.0.0.1:PORT/twilio/stream``."""
    app = FakeApp(url="")

    async def handler(ws: ServerConnection) -> None:
        peer = AppPeer(ws)
        app.peers.append(peer)
        app.connected.set()
        receiving = asyncio.create_task(peer.receive_all())
        try:
            await peer.wait_for(lambda p: bool(p.of("start")) or p.closed, within_s=5.0)
            if not peer.closed:
                await behaviour(peer)
            await ws.wait_closed()
        finally:
            await receiving

    async with serve(handler, "127.0.0.1", 0, compression=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        app.url = f"ws://127.0.0.1:{port}/twilio/stream"
        yield app


# ---------------------------------------------------------------- HTTP side


@dataclass
class HttpRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeHttpServer:
    """``POST /twilio/voice`` and ``GET /v1/calls/{sid}`` like the lead's server."""

    stream_url: str
    auth_token: str | None = None
    known_number: str = "+15005550006"
    parameters: dict[str, str] = field(default_factory=dict)
    api_key: str = "sk-test"
    record: Callable[[str], Message] | None = None
    requests: list[HttpRequest] = field(default_factory=list)
    base_url: str = ""
    signature_ok: list[bool] = field(default_factory=list)
    _server: asyncio.Server | None = None

    async def __aenter__(self) -> FakeHttpServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        method, path, _ = head[0].split(" ", 2)
        headers = {
            k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in head[1:] if h)
        }
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        request = HttpRequest(method, path, headers, body)
        self.requests.append(request)
        status, content_type, payload = self._answer(request)
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
            + payload
        )
        await writer.drain()
        writer.close()

    def _answer(self, request: HttpRequest) -> tuple[str, str, bytes]:
        if request.method == "POST" and request.path == "/twilio/voice":
            form = dict(parse_qsl(request.body.decode()))
            if self.auth_token:
                ok = RequestValidator(self.auth_token).validate(
                    self.base_url + request.path,
                    form,
                    request.headers.get("x-twilio-signature", ""),
                )
                self.signature_ok.append(ok)
                if not ok:
                    return "403 Forbidden", "text/plain", b"bad signature"
            if form.get("To") != self.known_number:
                twiml = "<Response><Say>This number is not in service.</Say><Hangup/></Response>"
                return "200 OK", "text/xml", twiml.encode()
            params = "".join(
                f'<Parameter name="{k}" value="{v}"/>' for k, v in self.parameters.items()
            )
            twiml = (
                '<?xml version="1.0" encoding="UTF-8"?><Response><Connect>'
                f'<Stream url="{self.stream_url}">{params}</Stream></Connect><Hangup/></Response>'
            )
            return "200 OK", "text/xml", twiml.encode()
        if request.method == "GET" and request.path.startswith("/v1/calls/"):
            if request.headers.get("authorization") != f"Bearer {self.api_key}":
                return "401 Unauthorized", "application/json", b'{"detail":"bad key"}'
            if self.record is None:
                return "404 Not Found", "application/json", b'{"detail":"no such call"}'
            record = self.record(request.path.rsplit("/", 1)[1])
            return "200 OK", "application/json", json.dumps(record).encode()
        return "404 Not Found", "text/plain", b"not found"


@pytest.fixture
def fake_app() -> FakeAppFactory:
    """``async with fake_app(behaviour) as app``: a Media Streams application at ``app.url``."""
    return serve_fake_app


@pytest.fixture
def fake_http() -> type[FakeHttpServer]:
    """``async with fake_http(stream_url=...) as server``: webhook and call record server."""
    return FakeHttpServer
