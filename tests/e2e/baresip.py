"""baresip (Debian ``baresip``) as a second, independent SIP phone for the end-to-end tests.

Its configuration directory is written to a temporary directory (``baresip -f DIR``): SIP and
RTP on loopback only, G.711 μ-law, the microphone a WAV file (the ``aufile`` audio source, which
ends the call when the file runs out), what it hears dumped to ``dump-*-dec.wav`` by the
``sndfile`` filter, and the ``ctrl_tcp`` module taking commands (``dial``, ``sndcode``,
``hangup``) as JSON netstrings and reporting call events the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .server_process import free_port
from .sip_server import free_sip_port, rtp_range_for

MODULES = "/usr/lib/baresip/modules"
INSTALL = "apt-get install -y baresip"
# The calling account; regint=0: no REGISTER, the phone only places calls.
ACCOUNT = "<sip:caller@127.0.0.1>;regint=0;audio_codecs=PCMU"


def baresip_binary() -> str:
    """The baresip executable; skips the test locally (fails on CI) when it is missing."""
    found = shutil.which("baresip")
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail(f"baresip is missing on CI; .ci/run installs it with {INSTALL}")
    pytest.skip(f"baresip missing: {INSTALL}")


def _config(sip_port: int, ctrl_port: int, microphone: Path, dumps: Path) -> str:
    return f"""poll_method epoll
sip_listen 127.0.0.1:{sip_port}
net_interface 127.0.0.1
audio_source aufile,{microphone}
audio_player aubridge,nil
audio_alert aubridge,nil
rtp_ports {rtp_range_for(ctrl_port)}
rtcp_enable yes
jitter_buffer_delay 5-10
module_path {MODULES}
module g711.so
module aufile.so
module aubridge.so
module sndfile.so
module_tmp account.so
module_app menu.so
module_app ctrl_tcp.so
ctrl_tcp_listen 127.0.0.1:{ctrl_port}
snd_path {dumps}
"""


class Baresip:
    """One baresip process; ``async with Baresip(dir, wav) as phone: await phone.dial(uri)``."""

    def __init__(self, directory: Path, microphone: Path) -> None:
        self.directory = directory
        self.microphone = microphone
        self.log_path = directory / "baresip.log"
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._binary = baresip_binary()
        self._process: asyncio.subprocess.Process | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._responses: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._tokens = itertools.count(1)

    async def __aenter__(self) -> Baresip:
        ctrl_port = free_port()
        self.directory.mkdir(parents=True, exist_ok=True)
        config = _config(free_sip_port(), ctrl_port, self.microphone, self.directory)
        (self.directory / "config").write_text(config)
        (self.directory / "accounts").write_text(ACCOUNT + "\n")
        with self.log_path.open("wb") as log:
            self._process = await asyncio.create_subprocess_exec(
                self._binary,
                "-f",
                str(self.directory),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        for _ in range(100):
            if self._process.returncode is not None:
                raise RuntimeError(f"baresip exited:\n{self.log_path.read_text()}")
            try:
                reader, self._writer = await asyncio.open_connection("127.0.0.1", ctrl_port)
                break
            except OSError:
                await asyncio.sleep(0.1)
        else:
            raise RuntimeError(f"baresip's ctrl_tcp never listened:\n{self.log_path.read_text()}")
        self._reader_task = asyncio.create_task(self._read(reader))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()
            await asyncio.gather(self._reader_task, return_exceptions=True)
        if self._process is not None and self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self._process.wait(), 5)
            except TimeoutError:
                os.killpg(self._process.pid, signal.SIGKILL)
                await self._process.wait()

    async def command(self, command: str, params: str = "") -> dict[str, Any]:
        """Run a baresip command (its long name) and return its response."""
        assert self._writer is not None
        token = str(next(self._tokens))
        answered = asyncio.get_running_loop().create_future()
        self._responses[token] = answered
        body = json.dumps({"command": command, "params": params, "token": token}).encode()
        self._writer.write(str(len(body)).encode() + b":" + body + b",")
        await self._writer.drain()
        response: dict[str, Any] = await asyncio.wait_for(answered, 10)
        return response

    async def event(self, kind: str, timeout_s: float = 20.0) -> dict[str, Any]:
        """The next call event of type ``kind`` (``CALL_ESTABLISHED``, ``CALL_CLOSED``...),
        skipping the others."""
        async with asyncio.timeout(timeout_s):
            while True:
                event = await self.events.get()
                if event.get("type") == kind:
                    return event

    def heard(self) -> Path:
        """The WAV file of what baresip received and decoded (its earpiece)."""
        dumps = sorted(self.directory.glob("dump-*-dec.wav"))
        assert dumps, f"sndfile wrote no decode dump:\n{self.log_path.read_text()[-3000:]}"
        return dumps[-1]

    async def _read(self, reader: asyncio.StreamReader) -> None:
        """Netstrings from ctrl_tcp: responses to our commands, and events."""
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                length = int((await reader.readuntil(b":"))[:-1])
                message = json.loads((await reader.readexactly(length + 1))[:-1])
                future = self._responses.pop(str(message.get("token")), None)
                if message.get("response") and future is not None:
                    future.set_result(message)
                elif message.get("event"):
                    self.events.put_nowait(message)
