"""Server CPU per inbound Media Streams frame, for each of uvicorn's WebSocket implementations.

python -m bench.ws_inbound [--calls 200] [--seconds 8] [--rounds 2] [--impls A,B]

``direct`` is ``websockets-sansio`` with the app reading below ASGI, as ``/twilio/stream`` does
(``aybiza.direct_websocket``); the others are uvicorn's own, through ASGI ``receive``.

For each implementation (``ws=`` of ``uvicorn.run``) a server process is started, pinned to
core 0, running uvicorn on uvloop with httptools, as ``aybiza serve`` does, and an ASGI app that
only accepts the socket and receives every message (no parse, no call loop: what is left is the
protocol's own cost per frame, plus uvloop's reads). ``--calls`` connections from this process
(pinned to core 1) each send one Twilio-shaped ``media`` message every 20 ms, staggered over ten
offsets of the frame as independent calls are. The server's CPU time (``/proc/PID/stat``) over
the measured window divided by the frames it received is the figure; implementations are
interleaved round by round so they meet the same machine load. ``wsproto`` is not a dependency:
it is measured when importable (``PYTHONPATH=DIR`` after ``pip install --target DIR wsproto``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import socket
import subprocess
import sys
import time
from typing import Any

import uvloop

from aybiza.direct_websocket import EXTENSION
from bench.ws_frames import ClientFrames

FRAME_S = 0.020
OFFSETS = 10
_TICKS = os.sysconf("SC_CLK_TCK")
# ``direct``: websockets-sansio with the app reading below ASGI (``aybiza serve``'s protocol,
# direct_websocket.py), what ``/twilio/stream`` does.
IMPLS = {"direct": "aybiza.direct_websocket:DirectWebSocketProtocol"}


_received = [0]  # messages the app has received, all connections


async def _count_message(message: str | bytes) -> bool:
    _received[0] += 1
    return True


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http":  # GET /count: how many so far
        body = str(_received[0]).encode()
        headers = [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    direct = scope.get("extensions", {}).get(EXTENSION)
    if direct is not None:  # ws=direct: handled below ASGI, as /twilio/stream does
        direct.attach()
        await direct.serve(_count_message)
        return
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        _received[0] += 1


def serve(ws: str, port: int) -> None:
    import uvicorn

    uvicorn.run(
        _app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", ws=IMPLS.get(ws, ws),
        log_level="warning", lifespan="off",
    )  # fmt: skip


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _media(sequence: int) -> bytes:
    payload = base64.b64encode(bytes(range(160))).decode()
    return (
        f'{{"event":"media","sequenceNumber":"{sequence}","media":{{"track":"inbound",'
        f'"chunk":"{sequence}","timestamp":"{sequence * 20}","payload":"{payload}"}},'
        f'"streamSid":"MZ{"a" * 32}"}}'
    ).encode()


async def _connect(port: int) -> asyncio.StreamWriter:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(f"upgrade refused: {head[:60]!r}")
    return writer  # kept: a StreamWriter that is collected closes its transport


async def _count(port: int) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /count HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    response = await reader.read()
    writer.close()
    return int(response.rsplit(b"\r\n\r\n", 1)[1])


async def _load(pid: int, port: int, calls: int, seconds: float) -> tuple[float, int]:
    writers = [await _connect(port) for _ in range(calls)]
    transports = [writer.transport for writer in writers]
    frames = ClientFrames()
    messages = [frames.text(_media(n)) for n in range(50)]
    groups = [transports[offset::OFFSETS] for offset in range(OFFSETS)]
    sent = 0
    warm = time.monotonic() + 1.0
    started_cpu = None
    started_count = started_sent = 0
    start = time.monotonic()
    tick = 0
    while True:
        for step, group in enumerate(groups):
            due = start + tick * FRAME_S + step * FRAME_S / OFFSETS
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            message = messages[tick % len(messages)]
            for transport in group:
                transport.write(message)
            sent += len(group)
        tick += 1
        now = time.monotonic()
        if started_cpu is None and now >= warm:
            started_cpu, started_count = _cpu_seconds(pid), await _count(port)
            started_sent, measured_from = sent, now
        if started_cpu is not None and now - measured_from >= seconds:
            break
    cpu = _cpu_seconds(pid) - started_cpu
    received = await _count(port) - started_count
    for transport in transports:
        transport.close()
    if received < 0.95 * (sent - started_sent):
        print(f"  {received} of {sent - started_sent} frames received: the server fell behind")
    return cpu, received


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _measure(ws: str, calls: int, seconds: float) -> float:
    port = _free_port()
    server = subprocess.Popen(
        ["taskset", "-c", "0", sys.executable, "-m", "bench.ws_inbound", "--serve", ws,
         "--port", str(port)],
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"server with ws={ws} did not start") from None
                time.sleep(0.1)
        cpu, frames = uvloop.run(_load(server.pid, port, calls, seconds))
        return cpu / frames
    finally:
        server.terminate()
        server.wait()


def _available(ws: str) -> bool:
    try:
        __import__({"wsproto": "wsproto", "websockets": "websockets.legacy"}.get(ws, "websockets"))
    except ImportError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description="Server CPU per inbound frame per ws=")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--impls", default="websockets-sansio,direct,websockets,wsproto")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    os.sched_setaffinity(0, {1})
    impls = [ws for ws in args.impls.split(",") if _available(ws)]
    results: dict[str, list[float]] = {ws: [] for ws in impls}
    for _ in range(args.rounds):
        for ws in impls:
            results[ws].append(_measure(ws, args.calls, args.seconds))
    base = min(results[impls[0]])
    print(f"{args.calls} connections x 50 frames/s, {args.seconds:.0f} s x {args.rounds} rounds")
    for ws, values in results.items():
        best = min(values)
        shown = " ".join(f"{v * 1e6:6.1f}" for v in values)
        print(f"{ws:20s} server CPU per frame {best * 1e6:6.1f} us (rounds: {shown})"
              f"  x{best / base:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
