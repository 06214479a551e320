"""The hardening of issue 11 on a real ``aybiza serve`` process: unsigned mode named in its
log and refused in production (item 3); WebSocket messages capped with 1009 and slow headers
timed out by the server as it runs (item 4); the demo key kept out of its output and its
database owner-only (item 5)."""

from __future__ import annotations

import json
import os
import pty
import select
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from .server_process import RunningServer, free_port, running_server

HEADER_TIMEOUT_S = 0.5


@pytest.fixture(scope="module")
def unsigned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server without TWILIO_AUTH_TOKEN and with a short header timeout."""
    env = {"TWILIO_AUTH_TOKEN": "", "AYBIZA_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S)}
    with running_server(tmp_path_factory.mktemp("unsigned"), env) as running:
        yield running


def _address(server: RunningServer) -> tuple[str, int]:
    host, port = server.base_url.removeprefix("http://").split(":")
    return host, int(port)


def test_item3_without_a_twilio_token_the_log_names_the_risk(
    unsigned: RunningServer, server: RunningServer
) -> None:
    log = unsigned.log_path.read_text()
    assert "startup.unsigned_twilio_webhooks" in log
    assert "anyone who can reach this server can post calls" in log
    assert "startup.unsigned_twilio_webhooks" not in server.log_path.read_text()


def test_item3_production_refuses_to_start_without_a_twilio_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TWILIO_AUTH_TOKEN"}
    env.update({"AYBIZA_ENV": "production", "AYBIZA_DATA_DIR": str(tmp_path / "data")})
    aybiza = Path(sys.executable).parent / "aybiza"
    refused = subprocess.run(
        [str(aybiza), "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 2, refused.stderr
    message = " ".join(refused.stderr.split())
    assert "AYBIZA_ENV=production needs TWILIO_AUTH_TOKEN" in message
    assert "Set TWILIO_AUTH_TOKEN to the auth token of your Twilio account" in message
    assert not (tmp_path / "data").exists(), "nothing was created"


async def test_item4_a_media_streams_message_over_64_kib_closes_with_1009(
    unsigned: RunningServer,
) -> None:
    url = unsigned.base_url.replace("http://", "ws://") + "/twilio/stream"
    async with connect(url, max_size=None) as websocket:
        await websocket.send(json.dumps({"event": "connected", "protocol": "Call"}))
        await websocket.send(json.dumps({"event": "media", "pad": "x" * (64 * 1024)}))
        with pytest.raises(ConnectionClosed) as closed:
            await websocket.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009


async def test_a_media_streams_message_under_the_cap_is_read(unsigned: RunningServer) -> None:
    """60 KiB of junk is a malformed message to the stream, not a protocol violation."""
    url = unsigned.base_url.replace("http://", "ws://") + "/twilio/stream"
    async with connect(url) as websocket:
        await websocket.send("x" * (60 * 1024))
        await websocket.send(json.dumps({"event": "connected", "protocol": "Call"}))
        await websocket.ping()
    assert websocket.close_code == 1000


def test_item4_headers_that_trickle_in_are_timed_out_with_408(unsigned: RunningServer) -> None:
    with socket.create_connection(_address(unsigned), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n")
        answer = b""
        # One header byte every 0.1 s: each byte arrives in time, the headers never do.
        for byte in b"X-Slow: " + b"a" * 200:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            sock.settimeout(0.1)
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                continue
            answer += chunk
            if not chunk or b"}}" in answer:
                break
        sock.settimeout(10)
        while b"}}" not in answer and (chunk := sock.recv(4096)):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b"x-content-type-options: nosniff" in answer
    body = json.loads(answer.partition(b"\r\n\r\n")[2])
    assert body["error"]["code"] == "header_timeout"


def test_a_connection_that_sends_nothing_is_closed_too(unsigned: RunningServer) -> None:
    with socket.create_connection(_address(unsigned), timeout=10) as sock:
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408 ")


def test_item5_the_demo_key_never_appears_in_the_servers_output(
    unsigned: RunningServer, server: RunningServer
) -> None:
    for running in (unsigned, server):
        output = running.log_path.read_text()
        assert running.api_key not in output
        assert running.api_key[:12] + "…" in output, "its first characters say which key"
        assert "not shown: output is not a terminal" in output


def test_item5_the_servers_database_files_are_owner_only(unsigned: RunningServer) -> None:
    data_dir = unsigned.log_path.parent
    for name in ("aybiza.db", "aybiza.db-wal", "aybiza.db-shm", "demo.key", "secret.key"):
        path = data_dir / name
        if path.exists() or name == "aybiza.db":
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name


def test_the_demo_key_is_shown_on_a_terminal(tmp_path: Path) -> None:
    """On a terminal (``make run``) the banner shows the whole key, as the docs promise."""
    primary, secondary = pty.openpty()
    env = {**os.environ, "AYBIZA_DATA_DIR": str(tmp_path), "COLUMNS": "120"}
    aybiza = Path(sys.executable).parent / "aybiza"
    process = subprocess.Popen(
        [str(aybiza), "serve", "--port", str(free_port())],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=secondary,
        stderr=secondary,
    )
    os.close(secondary)
    output = b""
    try:
        while b"kept in" not in output:
            readable, _, _ = select.select([primary], [], [], 60)
            if not readable:
                break
            try:
                chunk = os.read(primary, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
    finally:
        process.terminate()
        process.wait(timeout=30)
        os.close(primary)
    key = (tmp_path / "demo.key").read_text().strip()
    assert key.encode() in output


def test_headers_over_64_kib_are_refused_with_431(unsigned: RunningServer) -> None:
    with socket.create_connection(_address(unsigned), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * (70 * 1024))
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["error"]["code"] == "headers_too_large"
