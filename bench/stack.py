"""The benchmark's processes: fake engines with fixed latencies and one server under test.

Each runs as its own process pinned to a CPU with ``taskset -c``: the server under test on
``cpu``, the fakes on ``fakes_cpu``. The server is AYBIZA (``aybiza serve``) or Pipecat's Twilio
bot (``bench/pipecat/bot.py`` in its own venv, with its default smart-turn end-of-turn model or,
as ``pipecat-noturn``, with the plain VAD speech timeout). Both reach the same fakes:

- Deepgram (``tests/fakes/deepgram.py``): live STT and streaming TTS. The fake has one latency
  for both, so when STT and TTS latencies differ two fakes run, one per role.
- an OpenAI-compatible LLM (``tests/fakes/openai.py``) with a first-token latency.

    with Stack(server="pipecat", cpu=0, fakes_cpu=1) as stack:
        before = stack.server_usage()
        ...  # python -m bench.loadgen --url {stack.url}
        used = stack.server_usage() - before

Run alone to get a stack to drive by hand (Ctrl-C stops it)::

    python -m bench.stack --server pipecat-noturn

Runs under AYBIZA's venv with the standard library and httpx only.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal, Self, get_args

import httpx

ServerKind = Literal["aybiza", "pipecat", "pipecat-noturn"]
SERVERS: tuple[ServerKind, ...] = get_args(ServerKind)

REPO = Path(__file__).resolve().parents[1]
AYBIZA_BIN = REPO / ".venv" / "bin" / "aybiza"
PIPECAT_SETUP = REPO / "bench" / "pipecat" / "setup.sh"
PIPECAT_PYTHON = REPO / "bench" / ".venv-pipecat" / "bin" / "python"
PIPECAT_BOT = REPO / "bench" / "pipecat" / "bot.py"

# What the fake Deepgram "recognises", in order: the lines the load generator speaks
# (bench.loadgen.DEFAULT_LINES; not imported, as that module needs AYBIZA itself).
TRANSCRIPTS = (
    "I would like to book an appointment",
    "tomorrow morning",
    "what are your opening hours",
)
LLM_REPLY = "Sure, I can help with that."
LLM_MODEL = "gpt-4.1"
# The number the load generator dials; AYBIZA's bench agent answers it on the cloud engines.
BENCH_NUMBER = "+15550100200"
BENCH_AGENT = {
    "name": "Bench agent",
    "system_prompt": "You are a friendly phone agent. Answer in one short sentence.",
    "greeting": "Hello, thank you for calling. How can I help you today?",
    "voice": {"model": "aura-2-helena-en"},
    "models": {"default": LLM_MODEL, "fast": LLM_MODEL, "complex": LLM_MODEL},
    "engines": {"stt": "deepgram", "tts": "deepgram", "llm": "openai"},
}
FAKE_API_KEY = "test"

# Inherited by every process; anything else (cloud credentials, proxies) is left out so
# that a developer's shell cannot change which engine a server picks.
_INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_KIB = 1024


class StackError(RuntimeError):
    """A process of the stack failed to start or to become ready."""


@dataclass(frozen=True, slots=True)
class Usage:
    """CPU time and memory of a process tree at one moment.

    ``cpu_s`` is user + system time of the process, its live descendants and the children it
    already reaped; ``rss_bytes`` is the resident memory of the process and its live
    descendants (pages shared between them are counted once per process)."""

    cpu_s: float
    rss_bytes: int
    processes: int

    def __sub__(self, earlier: Usage) -> Usage:
        """The CPU time spent since ``earlier``; memory and process count are this sample's."""
        return Usage(self.cpu_s - earlier.cpu_s, self.rss_bytes, self.processes)


def sample_usage(pid: int) -> Usage:
    """Read ``/proc`` for ``pid`` and its descendants (processes that vanish are skipped)."""
    stats = _all_stats()
    if pid not in stats:
        raise ProcessLookupError(pid)
    tree = _descendants(pid, stats) | {pid}
    ticks = 0
    for member in tree:
        fields = stats[member]
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime: reaped children
    rss = sum(_rss_bytes(member) for member in tree)
    return Usage(cpu_s=ticks / _CLK_TCK, rss_bytes=rss, processes=len(tree))


def _all_stats() -> dict[int, list[str]]:
    """``/proc/PID/stat`` of every process, split after the command name (field 3 first)."""
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        stats[int(entry.name)] = raw[raw.rindex(")") + 2 :].split()
    return stats


def _descendants(pid: int, stats: Mapping[int, list[str]]) -> set[int]:
    children: dict[int, list[int]] = {}
    for member, fields in stats.items():
        children.setdefault(int(fields[1]), []).append(member)  # fields[1]: ppid
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def _rss_bytes(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * _KIB  # reported in kB
    return 0  # a zombie or kernel thread has no VmRSS


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


class Stack:
    """Fakes plus one server under test; ``with Stack(...) as stack`` waits until all are ready.

    - ``server``: ``aybiza``, ``pipecat`` (smart-turn v3) or ``pipecat-noturn`` (VAD timeout).
    - ``cpu``, ``fakes_cpu``: ``taskset -c`` CPU lists for the server and for the fakes.
    - ``stt_latency_ms``: before each final transcript; ``tts_latency_ms``: before each
      sentence's first audio; ``llm_latency_ms``: before the first token.
    - ``workers``: ``aybiza serve --workers`` (AYBIZA only).
    - ``keep_logs``: keep the log directory (``log_dir``) after the stack stops.
    """

    def __init__(
        self,
        server: ServerKind = "aybiza",
        *,
        cpu: int | str = 0,
        fakes_cpu: int | str = 1,
        stt_latency_ms: int = 150,
        llm_latency_ms: int = 300,
        tts_latency_ms: int = 100,
        llm_inter_token_ms: int = 0,
        llm_reply: str = LLM_REPLY,
        transcripts: Sequence[str] = TRANSCRIPTS,
        workers: int = 1,
        keep_logs: bool = False,
        ready_timeout_s: float = 60.0,
    ) -> None:
        if server not in SERVERS:
            raise ValueError(f"server must be one of {SERVERS}, got {server!r}")
        if workers != 1 and server != "aybiza":
            raise ValueError("workers applies to aybiza only (Pipecat serves from one process)")
        self.server = server
        self.cpu = cpu
        self.fakes_cpu = fakes_cpu
        self.stt_latency_ms = stt_latency_ms
        self.llm_latency_ms = llm_latency_ms
        self.tts_latency_ms = tts_latency_ms
        self.llm_inter_token_ms = llm_inter_token_ms
        self.llm_reply = llm_reply
        self.transcripts = tuple(transcripts)
        self.workers = workers
        self.keep_logs = keep_logs
        self.ready_timeout_s = ready_timeout_s
        self._log_dir: Path | None = None
        self.server_port = free_port()
        self.deepgram_stt_port = free_port()
        self.deepgram_tts_port = (
            self.deepgram_stt_port if stt_latency_ms == tts_latency_ms else free_port()
        )
        self.llm_port = free_port()
        self._fakes: list[ManagedProcess] = []
        self._server: ManagedProcess | None = None

    # ------------------------------------------------------------------ addresses

    @property
    def url(self) -> str:
        """The server's base URL, for ``bench.loadgen --url``."""
        return f"http://127.0.0.1:{self.server_port}"

    @property
    def deepgram_stt_url(self) -> str:
        """The Deepgram fake that transcribes (HTTP base URL)."""
        return f"http://127.0.0.1:{self.deepgram_stt_port}"

    @property
    def deepgram_tts_url(self) -> str:
        """The Deepgram fake that synthesizes (HTTP base URL)."""
        return f"http://127.0.0.1:{self.deepgram_tts_port}"

    @property
    def llm_base_url(self) -> str:
        """The OpenAI-compatible fake, with the ``/v1`` clients expect."""
        return f"http://127.0.0.1:{self.llm_port}/v1"

    @property
    def log_dir(self) -> Path:
        """Where each process's output goes (``NAME.log``), and AYBIZA's data directory."""
        if self._log_dir is None:
            raise StackError("the stack was not started")
        return self._log_dir

    @property
    def server_pid(self) -> int:
        """The server process's id."""
        if self._server is None:
            raise StackError("the stack is not running")
        return self._server.pid

    def server_usage(self) -> Usage:
        """CPU time and RSS of the server process and its children now."""
        return sample_usage(self.server_pid)

    def fakes_cpu_s(self) -> float:
        """CPU seconds used so far by the fake engines (they share a core with the load
        generator: when that core is full, the figures are the generator's limit)."""
        return sum(sample_usage(fake.pid).cpu_s for fake in self._fakes)

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start the fakes, then the server; return once each accepts requests."""
        if shutil.which("taskset") is None:
            raise StackError("taskset is missing (Debian package util-linux)")
        if self.server.startswith("pipecat"):
            ensure_pipecat_venv()
        self._log_dir = Path(tempfile.mkdtemp(prefix=f"bench-{self.server}-"))
        try:
            fakes = self._fake_processes()
            for fake, _ in fakes:
                fake.start()
                self._fakes.append(fake)
            for fake, port in fakes:
                self._wait_for_port(fake, port)
            self._server = self._server_process()
            self._server.start()
            self._wait_for_http(self._server, self._health_url())
            if self.server == "aybiza":
                self._provision_bench_agent()
        except BaseException:
            self.stop()
            raise

    def _provision_bench_agent(self) -> None:
        """An agent on the cloud engines (the fakes), created through the platform API like a
        user would, on ``BENCH_NUMBER``; Pipecat's bot answers any number the same way."""
        key = (self.log_dir / "data" / "demo.key").read_text().strip()
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=10) as client:
            agent = client.post("/v1/agents", json=BENCH_AGENT)
            agent.raise_for_status()
            number = client.post(
                "/v1/phone-numbers",
                json={"number": BENCH_NUMBER, "type": "twilio", "agent_id": agent.json()["id"]},
            )
            number.raise_for_status()

    def stop(self) -> None:
        """Stop the server, then the fakes; remove the logs unless ``keep_logs``."""
        if self._server is not None:
            self._server.stop()
            self._server = None
        for fake in reversed(self._fakes):
            fake.stop()
        self._fakes.clear()
        if self._log_dir is not None and not self.keep_logs:
            shutil.rmtree(self._log_dir, ignore_errors=True)

    # ------------------------------------------------------------------ processes

    def _env(self, extra: Mapping[str, str]) -> dict[str, str]:
        env = {name: os.environ[name] for name in _INHERITED_ENV if name in os.environ}
        env["PYTHONUNBUFFERED"] = "1"
        env.update(extra)
        return env

    def _fake_processes(self) -> list[tuple[ManagedProcess, int]]:
        """Each fake with the port it serves on."""
        python = sys.executable
        transcripts = [arg for line in self.transcripts for arg in ("--transcript", line)]

        def deepgram(name: str, port: int, latency_ms: int) -> tuple[ManagedProcess, int]:
            argv = [python, "tests/fakes/deepgram.py", "--port", str(port)]
            argv += ["--latency-ms", str(latency_ms), *transcripts]
            return self._process(name, argv, {}), port

        llm_argv = [python, "tests/fakes/openai.py", "--port", str(self.llm_port)]
        llm_argv += ["--first-token-ms", str(self.llm_latency_ms)]
        llm_argv += ["--inter-token-ms", str(self.llm_inter_token_ms), "--reply", self.llm_reply]
        fakes = [(self._process("llm", llm_argv, {}), self.llm_port)]
        if self.deepgram_tts_port == self.deepgram_stt_port:
            fakes.append(deepgram("deepgram", self.deepgram_stt_port, self.stt_latency_ms))
        else:
            fakes.append(deepgram("deepgram-stt", self.deepgram_stt_port, self.stt_latency_ms))
            fakes.append(deepgram("deepgram-tts", self.deepgram_tts_port, self.tts_latency_ms))
        return fakes

    def _process(
        self, name: str, argv: list[str], env: Mapping[str, str], *, server: bool = False
    ) -> ManagedProcess:
        return ManagedProcess(
            name=name,
            argv=argv,
            env=self._env(env),
            cpu=self.cpu if server else self.fakes_cpu,
            log_path=self.log_dir / f"{name}.log",
        )

    def _server_process(self) -> ManagedProcess:
        port = str(self.server_port)
        if self.server == "aybiza":
            argv = [str(AYBIZA_BIN), "serve", "--host", "127.0.0.1", "--port", port]
            argv += ["--workers", str(self.workers)]
            data_dir = self.log_dir / "data"
            data_dir.mkdir()
            env = {
                "AYBIZA_DATA_DIR": str(data_dir),
                "DEEPGRAM_API_KEY": FAKE_API_KEY,
                "AYBIZA_DEEPGRAM_URL": self.deepgram_stt_url,
                # Read once AYBIZA takes a separate TTS base URL; equal latencies share one fake.
                "AYBIZA_DEEPGRAM_TTS_URL": self.deepgram_tts_url,
                "AYBIZA_OPENAI_BASE_URL": self.llm_base_url,
                "OPENAI_API_KEY": FAKE_API_KEY,
                # The benchmark's callers all reach the demo tenant: no concurrency cap.
                "AYBIZA_DEFAULT_MAX_CONCURRENT_CALLS": "1000000",
            }
            return self._process("server", argv, env, server=True)
        turn = "speech-timeout" if self.server == "pipecat-noturn" else "smart-turn"
        argv = [str(PIPECAT_PYTHON), str(PIPECAT_BOT), "--host", "127.0.0.1", "--port", port]
        argv += [
            "--deepgram-stt-url",
            self.deepgram_stt_url,
            "--deepgram-tts-url",
            "ws://" + self.deepgram_tts_url.removeprefix("http://"),
            "--llm-base-url",
            self.llm_base_url,
            "--llm-model",
            LLM_MODEL,
            "--turn",
            turn,
        ]
        env = {"DEEPGRAM_API_KEY": FAKE_API_KEY, "OPENAI_API_KEY": FAKE_API_KEY}
        return self._process("server", argv, env, server=True)

    def _health_url(self) -> str:
        return self.url + ("/readyz" if self.server == "aybiza" else "/healthz")

    # ------------------------------------------------------------------ readiness

    def _deadline_check(self, process: ManagedProcess, deadline: float, what: str) -> None:
        code = process.exited()
        if code is not None:
            raise StackError(f"{process.name} exited with {code}:\n{process.log_tail()}")
        if time.monotonic() > deadline:
            raise StackError(f"{process.name} not {what} in time:\n{process.log_tail()}")

    def _wait_for_port(self, process: ManagedProcess, port: int) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                return
            self._deadline_check(process, deadline, f"listening on {port}")
            time.sleep(0.05)

    def _wait_for_http(self, process: ManagedProcess, url: str) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        with httpx.Client(timeout=2.0) as client:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(url).status_code == 200:
                        return
                self._deadline_check(process, deadline, f"ready at {url}")
                time.sleep(0.1)


def ensure_pipecat_venv() -> None:
    """Create or update ``bench/.venv-pipecat`` (``setup.sh`` does nothing when up to date)."""
    result = subprocess.run(
        ["bash", str(PIPECAT_SETUP)], cwd=REPO, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise StackError(f"bench/pipecat/setup.sh failed:\n{result.stdout}\n{result.stderr}")


def main(argv: Sequence[str] | None = None) -> None:
    """Start a stack, print where it is, and keep it up until interrupted."""
    parser = argparse.ArgumentParser(description="Run the fakes and one server under test.")
    parser.add_argument("--server", choices=SERVERS, default="aybiza")
    parser.add_argument("--cpu", default="0", help="taskset CPU list of the server")
    parser.add_argument("--fakes-cpu", default="1", help="taskset CPU list of the fakes")
    parser.add_argument("--stt-latency-ms", type=int, default=150)
    parser.add_argument("--llm-latency-ms", type=int, default=300)
    parser.add_argument("--tts-latency-ms", type=int, default=100)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    stack = Stack(
        args.server,
        cpu=args.cpu,
        fakes_cpu=args.fakes_cpu,
        stt_latency_ms=args.stt_latency_ms,
        llm_latency_ms=args.llm_latency_ms,
        tts_latency_ms=args.tts_latency_ms,
        workers=args.workers,
        keep_logs=True,
    )
    with stack:
        print(
            f"{args.server} ready at {stack.url} (pid {stack.server_pid}); logs in {stack.log_dir}"
        )
        print(f"python -m bench.loadgen --url {stack.url} --calls 3", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(5)
                usage = stack.server_usage()
                print(f"cpu {usage.cpu_s:.2f} s  rss {usage.rss_bytes / 2**20:.1f} MiB", flush=True)


if __name__ == "__main__":
    main()
