"""SIPp (Debian package ``sip-tester``) as an independent SIP peer: finding it, free loopback
ports for it, and running one of the scenarios in ``sipp/`` as a caller (UAC) or as a trunk's
gateway (UAS), with its message trace kept for the test to read.

A test that needs SIPp skips locally, naming the install command, when ``sipp`` is missing; on
CI (``CI=true``, where ``.ci/run`` installs it) it fails instead. Every run has a ``-timeout``
with ``-timeout_error``, so a scenario stuck waiting for a message fails in seconds.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest

SCENARIOS = Path(__file__).parent / "sipp"
INSTALL = "sipp missing: apt-get install -y sip-tester"


def sipp_binary() -> str:
    found = shutil.which("sipp")
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("sipp is missing on CI; .ci/run installs it with apt-get install -y sip-tester")
    pytest.skip(INSTALL)


def free_port() -> int:
    """A loopback port free for both UDP and TCP when asked (tests run in parallel: a port
    free for UDP may be taken for TCP, so look again)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port: int = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no loopback port free for both UDP and TCP")


def free_rtp_range(pairs: int) -> str:
    """``AYBIZA_RTP_PORTS`` for a server of its own: ``pairs`` RTP/RTCP port pairs above the
    kernel's ephemeral ports, all free when asked (servers in parallel test processes each
    pick their own range)."""
    for _ in range(100):
        first = random.randrange(61000, 65000 - 2 * pairs, 2)
        ports = range(first, first + 2 * pairs)
        if all(_udp_free(port) for port in ports):
            return f"{ports[0]}-{ports[-1]}"
    raise RuntimeError(f"no free range of {pairs} RTP port pairs")


def _udp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass(frozen=True, slots=True)
class SippRun:
    """How a SIPp run ended: its exit status, screen, error log and message trace."""

    returncode: int
    output: str
    errors: str
    messages: str

    @property
    def report(self) -> str:
        """What to show when the run did not go as the test expected."""
        return f"sipp exited {self.returncode}\n{self.output[-2500:]}\n{self.errors[-2500:]}"

    def first_lines(self) -> list[str]:
        """The start line of every message sent and received, in order."""
        return re.findall(r"^\s*((?:SIP/2\.0 \d{3}|[A-Z]+ sip:)[^\r\n]*)", self.messages, re.M)

    def statuses(self) -> list[int]:
        """The status codes of the responses in the trace, in order."""
        return [int(line.split()[1]) for line in self.first_lines() if line.startswith("SIP/")]

    def exchange(self) -> list[str]:
        """The messages in order, a request as its method and a response as its status
        (``["INVITE", "100", "200", "ACK", "BYE", "200"]``), a retransmission folded into the
        message before it."""
        folded: list[str] = []
        previous = None
        for line in self.first_lines():
            if line != previous:
                folded.append(line.split()[1] if line.startswith("SIP/") else line.split()[0])
            previous = line
        return folded


class Sipp:
    """One SIPp process running a scenario from ``sipp/`` (``uac_hold.xml``), or one of
    SIPp's built-in ones (``uac``), in ``directory`` (its pcaps and logs live there), on free
    loopback ports of its own."""

    def __init__(self, directory: Path, scenario: str, *args: str, timeout_s: float = 30) -> None:
        self.directory = directory
        self.name = Path(scenario).stem
        self.port = free_port()
        self.media_port = free_port()
        self._errors = directory / f"{self.name}-{self.port}-errors.log"
        self._messages = directory / f"{self.name}-{self.port}-messages.log"
        builtin = not scenario.endswith(".xml")
        scenario_option = ("-sn", scenario) if builtin else ("-sf", str(SCENARIOS / scenario))
        self._command = [
            sipp_binary(),
            *args,
            *scenario_option,
            "-i", "127.0.0.1",
            "-p", str(self.port),
            "-mp", str(self.media_port),
            "-nostdin",
            "-timeout", f"{timeout_s:g}s",
            "-timeout_error",
            "-trace_err", "-error_file", str(self._errors),
            "-trace_msg", "-message_file", str(self._messages),
        ]  # fmt: skip
        self._timeout_s = timeout_s
        self._process: asyncio.subprocess.Process | None = None

    @property
    def address(self) -> str:
        """``host:port`` where this SIPp listens (a trunk gateway's address)."""
        return f"127.0.0.1:{self.port}"

    async def start(self) -> Sipp:
        """Start SIPp (a UAS waits for its INVITE; a UAC dials at once)."""
        self._process = await asyncio.create_subprocess_exec(
            *self._command,
            cwd=self.directory,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        return self

    async def listening(self, timeout_s: float = 10) -> Sipp:
        """Start SIPp and wait until its SIP port is bound (a gateway must be there before
        the dialler's INVITE)."""
        await self.start()
        for _ in range(int(timeout_s / 0.02)):
            if not _udp_free(self.port):
                return self
            await asyncio.sleep(0.02)
        raise AssertionError(f"sipp never bound port {self.port}: {(await self.finished()).report}")

    async def finished(self) -> SippRun:
        """Wait for SIPp to exit (it stops by itself: ``-m``, or ``-timeout``)."""
        assert self._process is not None, "start() first"
        try:
            output, _ = await asyncio.wait_for(self._process.communicate(), self._timeout_s + 30)
        except TimeoutError:
            self._process.kill()
            output, _ = await self._process.communicate()
        return SippRun(
            self._process.returncode if self._process.returncode is not None else -1,
            output.decode(errors="replace"),
            _read(self._errors),
            _read(self._messages),
        )

    async def run(self) -> SippRun:
        """Start, then wait for the end."""
        await self.start()
        return await self.finished()


def uac(directory: Path, scenario: str, target: str, dialled: str, *args: str) -> Sipp:
    """A SIPp caller running ``scenario`` once: INVITE ``sip:dialled@target``."""
    return Sipp(directory, scenario, target, "-s", dialled, "-m", "1", *args)


def uas(directory: Path, scenario: str, *args: str) -> Sipp:
    """A SIPp trunk gateway that takes one call with ``scenario``."""
    return Sipp(directory, scenario, "-m", "1", *args)


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""
