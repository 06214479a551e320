"""A real server (``aybiza serve``) in its own process, driven over real HTTP and WebSockets."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

AUTH_TOKEN = "e2e-twilio-auth-token"


@dataclass(frozen=True)
class RunningServer:
    base_url: str
    api_key: str
    auth_token: str
    log_path: Path

    async def call_record(self, call_sid: str) -> dict[str, object]:
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.get(
                f"{self.base_url}/v1/calls/{call_sid}",
                headers={"Authorization": f"Bearer {self.api_key}"},
            )
        response.raise_for_status()
        record: dict[str, object] = response.json()
        return record


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data_dir = tmp_path_factory.mktemp("aybiza-data")
    port = _free_port()
    log_path = data_dir / "server.log"
    env = {
        **os.environ,
        "AYBIZA_DATA_DIR": str(data_dir),
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "AYBIZA_LOG_LEVEL": "info",
    }
    env.pop("AYBIZA_PUBLIC_URL", None)
    env.pop("AYBIZA_DATABASE_URL", None)
    aybiza = Path(sys.executable).parent / "aybiza"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(aybiza), "serve", "--port", str(port)], env=env, stdout=log, stderr=log
        )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"server did not start:\n{log_path.read_text()}")
        time.sleep(0.1)
    api_key = (data_dir / "admin.key").read_text().strip()
    try:
        yield RunningServer(base_url, api_key, AUTH_TOKEN, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
