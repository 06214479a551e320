"""The benchmark's processes: each pinned to a CPU, logging to a file, in its own session, and
stopped with the process that started it."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


class StackError(RuntimeError):
    """A process of the stack failed to start or to become ready."""


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the process that started the stack dies,
    so a benchmark killed mid-run leaves no servers or fakes behind."""
    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ManagedProcess:
    """One process of the stack, pinned to ``cpu``, logging to ``log_path``, in its own
    session so that stopping it also stops anything it started."""

    name: str
    argv: list[str]
    env: dict[str, str]
    cpu: int | str
    log_path: Path
    popen: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> None:
        """Launch under ``taskset -c CPU`` (which execs, so the pid is the process's own)."""
        with self.log_path.open("wb") as log:
            self.popen = subprocess.Popen(
                ["taskset", "-c", str(self.cpu), *self.argv],
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    @property
    def pid(self) -> int:
        """The process id (the process must have been started)."""
        if self.popen is None:
            raise StackError(f"{self.name} was not started")
        return self.popen.pid

    def exited(self) -> int | None:
        """The exit code once the process ended, else None."""
        return None if self.popen is None else self.popen.poll()

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the process's output."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout_s: float = 5.0) -> None:
        """SIGTERM the process's session, then SIGKILL whatever is left after ``timeout_s``."""
        if self.popen is None or self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout_s)
