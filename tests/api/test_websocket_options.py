"""The WebSocket options ``aybiza serve`` gives uvicorn, on a real server and client."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import uvicorn
from websockets.asyncio.client import connect

from aybiza.api.http_server import uvicorn_options
from aybiza.config import Settings


async def _echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    message = await receive()
    await send({"type": "websocket.send", "text": message["text"]})
    await receive()


async def test_a_client_offering_compression_gets_plain_frames() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    options = uvicorn_options(Settings(), in_process=True)
    server = uvicorn.Server(uvicorn.Config(_echo, log_level="warning", lifespan="off", **options))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
            await asyncio.sleep(0.01)
        # What a browser does: offer permessage-deflate.
        async with connect(f"ws://127.0.0.1:{port}/", compression="deflate") as ws:
            assert ws.response is not None
            assert "sec-websocket-extensions" not in ws.response.headers
            assert ws.protocol.extensions == []
            await ws.send("media")
            assert await ws.recv() == "media"
    finally:
        server.should_exit = True
        await serving
        sock.close()
