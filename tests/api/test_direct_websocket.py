"""``DirectWebSocketProtocol`` on a real uvicorn server with ``aybiza serve``'s options and a
real WebSocket client: what an attached handler reads, in what order, and when it ends."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from aybiza.api.http_server import uvicorn_options
from aybiza.config import Settings
from aybiza.direct_websocket import EXTENSION, HIGH_WATER, DirectSocket

Handler = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


@asynccontextmanager
async def serving(app: Handler) -> AsyncIterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    options = uvicorn_options(Settings(), in_process=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", **options))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
            await asyncio.sleep(0.01)
        yield f"ws://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        await serving
        sock.close()


async def _read_all(direct: DirectSocket) -> list[str | bytes]:
    """Every message the socket receives until it ends, as an attached handler reads them."""
    messages: list[str | bytes] = []
    while True:
        message = direct.next_message()
        if message is not None:
            messages.append(message)
        elif direct.closed_code is not None:
            return messages
        else:
            await direct.wait()


class Recorder:
    """An ASGI app that accepts, waits for ``go``, attaches and records what it reads."""

    def __init__(self) -> None:
        self.go = asyncio.Event()
        self.messages: list[str | bytes] = []
        self.closed_code: int | None = None
        self.done = asyncio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        await self.go.wait()
        direct = scope["extensions"][EXTENSION]
        direct.attach()
        self.messages = await _read_all(direct)
        self.closed_code = direct.closed_code
        self.done.set()


async def test_messages_queued_before_attach_come_first_then_the_rest_in_order() -> None:
    app = Recorder()
    async with serving(app) as url, connect(url) as ws:
        for n in range(20):
            await ws.send(f"early {n}")
        await ws.send(b"\x00\x01")  # a binary message keeps its type
        await asyncio.sleep(0.2)  # the server reads them into uvicorn's queue meanwhile
        app.go.set()
        for n in range(20):
            await ws.send(f"late {n}")
        await ws.close()
        await asyncio.wait_for(app.done.wait(), 10)
    expected: list[str | bytes] = [f"early {n}" for n in range(20)]
    expected += [b"\x00\x01", *(f"late {n}" for n in range(20))]
    assert app.messages == expected
    assert app.closed_code == 1000


async def test_a_handler_that_falls_behind_pauses_the_socket_and_loses_nothing() -> None:
    app = Recorder()
    count = HIGH_WATER * 8
    async with serving(app) as url, connect(url) as ws:
        app.go.set()
        for n in range(count):
            await ws.send(f"{n}")
        await ws.close()
        await asyncio.wait_for(app.done.wait(), 10)
    assert app.messages == [f"{n}" for n in range(count)]


async def test_a_handler_paused_with_a_backlog_reads_it_all_once_it_attaches() -> None:
    app = Recorder()
    count = HIGH_WATER * 4
    async with serving(app) as url, connect(url) as ws:
        for n in range(count):
            await ws.send(f"{n}")
        await asyncio.sleep(0.2)  # uvicorn reads one, pauses: the rest wait in the kernel
        app.go.set()
        await ws.close()
        await asyncio.wait_for(app.done.wait(), 10)
    assert app.messages == [f"{n}" for n in range(count)]


async def test_a_dropped_connection_ends_the_reading_after_what_it_sent() -> None:
    app = Recorder()
    app.go.set()
    async with serving(app) as url:
        async with connect(url) as ws:
            for n in range(5):
                await ws.send(f"{n}")
            await asyncio.sleep(0.1)
            ws.transport.abort()  # no close frame: the TCP connection just goes
        await asyncio.wait_for(app.done.wait(), 10)
    assert app.messages == ["0", "1", "2", "3", "4"]
    assert app.closed_code == 1005  # uvicorn's code for a connection lost after the handshake


async def test_send_text_reaches_the_client_in_order_and_fails_once_it_is_gone() -> None:
    outcome: list[str] = []
    gone = asyncio.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        direct = scope["extensions"][EXTENSION]
        direct.attach()
        for n in range(3):
            await direct.send_text(f"out {n}")
        await _read_all(direct)
        try:
            await direct.send_text("too late")
        except OSError:
            outcome.append("refused")
        gone.set()

    async with serving(app) as url:
        async with connect(url) as ws:
            assert [await ws.recv() for _ in range(3)] == ["out 0", "out 1", "out 2"]
        await asyncio.wait_for(gone.wait(), 10)
    assert outcome == ["refused"]


async def test_a_handler_closing_ends_its_reading_with_its_code() -> None:
    codes: list[int | None] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        direct = scope["extensions"][EXTENSION]
        direct.attach()
        while direct.next_message() is None:
            await direct.wait()
        await send({"type": "websocket.close", "code": 1008, "reason": "no"})
        codes.append(direct.closed_code)

    async with serving(app) as url, connect(url) as ws:
        await ws.send("hello")
        try:
            await asyncio.wait_for(ws.recv(), 10)
        except ConnectionClosed as exc:
            assert exc.rcvd is not None and exc.rcvd.code == 1008
    assert codes == [1008]


async def test_a_handler_that_never_attaches_is_served_through_asgi_as_before() -> None:
    async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        assert isinstance(scope["extensions"][EXTENSION], DirectSocket)
        await receive()
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            await send({"type": "websocket.send", "text": message["text"].upper()})

    async with serving(echo) as url, connect(url) as ws:
        for word in ("media", "mark", "stop"):
            await ws.send(word)
            assert await ws.recv() == word.upper()


class Server:
    """An ASGI app that reads the first message itself, then ``serve``s a handler that waits
    on every third message, records the order, and stops at ``stop``."""

    def __init__(self) -> None:
        self.handled: list[str | bytes] = []
        self.tasks: list[bool] = []
        self.done = asyncio.Event()
        self.error: BaseException | None = None

    async def handle(self, message: str | bytes) -> bool:
        self.tasks.append(asyncio.current_task() is not None)
        if len(self.handled) % 3 == 2:
            await asyncio.sleep(0.001)
        if message == "boom":
            raise ValueError("boom")
        self.handled.append(message)
        return message != "stop"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        direct = scope["extensions"][EXTENSION]
        direct.attach()
        while (first := direct.next_message()) is None:
            await direct.wait()
        self.handled.append(first)
        try:
            await direct.serve(self.handle)
        except ValueError as exc:
            self.error = exc
        self.done.set()


async def test_served_messages_keep_their_order_when_some_wait() -> None:
    app = Server()
    async with serving(app) as url, connect(url) as ws:
        for n in range(300):
            await ws.send(f"{n}")
        await ws.close()
        await asyncio.wait_for(app.done.wait(), 10)
    assert app.handled == [f"{n}" for n in range(300)]
    # Messages that arrive while none waits start outside any task (no task woken for them).
    assert False in app.tasks


async def test_a_handler_returning_false_ends_serving() -> None:
    app = Server()
    async with serving(app) as url, connect(url) as ws:
        for message in ("start", "a", "stop", "never"):
            await ws.send(message)
        await asyncio.wait_for(app.done.wait(), 10)
    assert app.handled == ["start", "a", "stop"]


async def test_a_handler_raising_ends_serving_with_its_exception() -> None:
    app = Server()
    async with serving(app) as url, connect(url) as ws:
        for message in ("start", "a", "boom", "never"):
            await ws.send(message)
        await asyncio.wait_for(app.done.wait(), 10)
    assert app.handled == ["start", "a"]
    assert isinstance(app.error, ValueError)
