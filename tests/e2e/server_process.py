"""Start ``aybiza serve`` in its own process with a given environment, wait until it is ready."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

AUTH_TOKEN = "e2e-twilio-auth-token"


@dataclass(frozen=True)
class RunningServer:
    base_url: str
    api_key: str
    auth_token: str
    log_path: Path
    pid: int = 0
    port: int = 0

    async def call_record(self, call_sid: str) -> dict[str, object]:
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.get(
                f"{self.base_url}/v1/calls/{call_sid}",
                headers={"Authorization": f"Bearer {self.api_key}"},
            )
        response.raise_for_status()
        record: dict[str, object] = response.json()
        return record


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Variables of the machine that would change which engines the server picks.
_ENGINE_VARIABLES = (
    "AYBIZA_PUBLIC_URL",
    "AYBIZA_DATABASE_URL",
    "DEEPGRAM_API_KEY",
    "AYBIZA_DEEPGRAM_URL",
    "ANTHROPIC_API_KEY",
    "AYBIZA_ANTHROPIC_BASE_URL",
    "AYBIZA_OPENAI_BASE_URL",
    "AYBIZA_BEDROCK_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_PROFILE",
    "AWS_REGION",
)
# The machine's own allow-list must not widen what a test server may send requests to (a test
# that needs loopback targets passes AYBIZA_OUTBOUND_ALLOW_CIDRS itself).
_OUTBOUND_VARIABLES = ("AYBIZA_OUTBOUND_ALLOW_CIDRS",)


@contextmanager
def running_server(
    data_dir: Path,
    env: Mapping[str, str] | None = None,
    *,
    start_timeout_s: float = 90,
    workers: int = 1,
) -> Iterator[RunningServer]:
    """``aybiza serve`` on a free port with ``data_dir`` and extra ``env``; stopped on exit.
    A server not ready within ``start_timeout_s`` is killed and the test fails. ``workers``:
    ``aybiza serve --workers`` (ready once one worker answers; the others may still start)."""
    port = free_port()
    log_path = data_dir / "server.log"
    dropped = _ENGINE_VARIABLES + _OUTBOUND_VARIABLES
    full_env = {k: v for k, v in os.environ.items() if k not in dropped}
    full_env.update(
        {
            "AYBIZA_DATA_DIR": str(data_dir),
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "AYBIZA_LOG_LEVEL": "info",
            # Never let the machine's own AWS config make the embedded tests use Bedrock.
            "AWS_SHARED_CREDENTIALS_FILE": str(data_dir / "no-aws-credentials"),
            # Stopping the server at the end of a test waits this long for live calls at most.
            "AYBIZA_DRAIN_S": "2",
            # Servers run side by side: SIP only where a test asks for it (on its own port).
            "AYBIZA_SIP_LISTEN": "",
            **(env or {}),
        }
    )
    aybiza = Path(sys.executable).parent / "aybiza"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(aybiza), "serve", "--port", str(port), "--workers", str(workers)],
            env=full_env,
            stdout=log,
            stderr=log,
        )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + start_timeout_s
    # One client for the whole wait: each new httpx client loads the CA bundle into a fresh TLS
    # context (tens of ms of CPU), which at ten polls a second took a core from the starting server.
    with httpx.Client(timeout=1, trust_env=False) as probe:
        while True:
            try:
                if probe.get(f"{base_url}/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"server did not start:\n{log_path.read_text()}")
            time.sleep(0.1)
    api_key = (data_dir / "demo.key").read_text().strip()
    try:
        yield RunningServer(base_url, api_key, AUTH_TOKEN, log_path, process.pid, port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
