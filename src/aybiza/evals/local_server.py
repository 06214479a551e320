"""The server an eval run starts for itself when no ``--url`` is given: ``aybiza serve`` in its
own process, on a free loopback port, with a fresh database in a temporary data directory.

Its own process, like a deployed server: the embedded engines' work and the simulated caller's
20 ms pacing do not share one event loop, so the latencies measured are the server's. It keeps
the environment's engine credentials (cloud engines when configured) unless ``embedded`` asks
for the embedded engines only.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from aybiza.timeouts import within

# What would make the server use another database, advertise another address, or (with
# ``embedded``) pick a cloud engine.
_LOCATION_VARIABLES = ("AYBIZA_DATA_DIR", "AYBIZA_DATABASE_URL", "AYBIZA_PUBLIC_URL")
CLOUD_VARIABLES = (
    "DEEPGRAM_API_KEY",
    "ANTHROPIC_API_KEY",
    "AYBIZA_OPENAI_BASE_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_BEARER_TOKEN_BEDROCK",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
)
START_TIMEOUT_S = 120.0


class ServerStartError(Exception):
    """The eval's own server did not start; the message carries the end of its log."""


@dataclass(frozen=True, slots=True)
class ServerAccess:
    """How an eval run reaches a server: its URL, an API key of the tenant that owns the agent,
    and the Twilio auth token the server checks signatures with (None: it checks none)."""

    base_url: str
    api_key: str
    auth_token: str | None


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalServer:
    """``async with LocalServer() as server``: started and ready inside, stopped on exit."""

    def __init__(self, *, embedded: bool = False, keep_dir: Path | None = None) -> None:
        self._embedded = embedded
        self._temporary: tempfile.TemporaryDirectory[str] | None = None
        if keep_dir is None:
            self._temporary = tempfile.TemporaryDirectory(prefix="aybiza-eval-")
            keep_dir = Path(self._temporary.name)
        self.data_dir = keep_dir
        self.log_path = self.data_dir / "server.log"
        self._auth_token = secrets.token_urlsafe(24)
        self._process: asyncio.subprocess.Process | None = None
        self.access: ServerAccess | None = None

    def _environment(self) -> dict[str, str]:
        dropped = _LOCATION_VARIABLES + (CLOUD_VARIABLES if self._embedded else ())
        env = {k: v for k, v in os.environ.items() if k not in dropped}
        env.update(
            {
                "AYBIZA_DATA_DIR": str(self.data_dir),
                "TWILIO_AUTH_TOKEN": self._auth_token,
                "AYBIZA_SIP_LISTEN": "",
                "AYBIZA_LOG_LEVEL": "warning",
                # Stopping at the end of the run waits this long for calls still closing.
                "AYBIZA_DRAIN_S": "2",
            }
        )
        if self._embedded:
            # No machine-wide AWS configuration either.
            env["AWS_SHARED_CREDENTIALS_FILE"] = str(self.data_dir / "no-aws-credentials")
            env["AWS_CONFIG_FILE"] = str(self.data_dir / "no-aws-config")
        return env

    async def __aenter__(self) -> Self:
        port = free_port()
        command = [sys.executable, "-m", "aybiza", "serve", "--host", "127.0.0.1"]
        command += ["--port", str(port), "--sip-listen", ""]
        with self.log_path.open("wb") as log:
            self._process = await asyncio.create_subprocess_exec(
                *command, env=self._environment(), stdout=log, stderr=subprocess.STDOUT
            )
        base_url = f"http://127.0.0.1:{port}"
        try:
            await self._wait_ready(base_url)
        except BaseException:
            await self._stop()
            raise
        api_key = (self.data_dir / "demo.key").read_text(encoding="utf-8").strip()
        self.access = ServerAccess(base_url, api_key, self._auth_token)
        return self

    async def _wait_ready(self, base_url: str) -> None:
        deadline = asyncio.get_running_loop().time() + START_TIMEOUT_S
        async with httpx.AsyncClient(timeout=2.0) as client:
            while True:
                process = self._process
                assert process is not None
                if process.returncode is not None:
                    raise ServerStartError(
                        f"the eval's server exited with status {process.returncode}:\n"
                        f"{self._log_tail()}"
                    )
                try:
                    if (await client.get(f"{base_url}/readyz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    raise ServerStartError(
                        f"the eval's server was not ready after {START_TIMEOUT_S:g} s:\n"
                        f"{self._log_tail()}"
                    )
                await asyncio.sleep(0.2)

    def _log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stop()

    async def _stop(self) -> None:
        process = self._process
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await within(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._temporary is not None:
            self._temporary.cleanup()
