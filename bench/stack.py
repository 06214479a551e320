"""The benchmark's processes: fake engines with fixed latencies and one server under test.

Each runs as its own process pinned to a CPU with ``taskset -c``: the server under test on
``cpu``, the fakes on ``fakes_cpu``. The server is AYBIZA (``aybiza serve``) or Pipecat's Twilio
bot (``bench/pipecat/bot.py`` in its own venv, with its default smart-turn end-of-turn model or,
as ``pipecat-noturn``, with the plain VAD speech timeout). Both reach the same fakes:

- Deepgram (``tests/fakes/deepgram.py``): live STT and streaming TTS. The fake has one latency
  for both, so when STT and TTS latencies differ two fakes run, one per role.
- the model: Claude on Amazon Bedrock (``tests/fakes/bedrock.py``, ``ConverseStream`` with AWS
  event-stream framing, requests SigV4-signed by botocore), the seed's default engine, or an
  OpenAI-compatible LLM (``tests/fakes/openai.py``); either with a first-token latency.

    with Stack(server="pipecat", cpu=0, fakes_cpu=1) as stack:
        before = stack.server_usage()
        ...  # python -m bench.loadgen --url {stack.url}
        used = stack.server_usage() - before

Run alone to get a stack to drive by hand (Ctrl-C stops it)::

    python -m bench.stack --server pipecat-noturn

Runs under AYBIZA's venv with the standard library and httpx only. The stack's settings and bench
agent are in ``bench.stack_config``; its processes' command lines in ``bench.stack_processes``
and their environment in ``bench.stack_env``; readiness checks in ``bench.readiness``; the
agent's provisioning in ``bench.provision``; Pipecat's venv in ``bench.pipecat_setup``.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from bench.pipecat_setup import ensure_pipecat_venv
from bench.processes import ManagedProcess, StackError, free_port
from bench.provision import provision_bench_agent
from bench.readiness import wait_for_http, wait_for_port, wait_for_workers
from bench.stack_config import (
    BENCH_AGENT,
    BENCH_NUMBER,
    BENCH_SIP_NUMBER,
    LLM_REPLY,
    LLMS,
    SERVERS,
    TRANSCRIPTS,
    LlmKind,
    ServerKind,
    bench_agent,
)
from bench.stack_processes import fake_processes, server_process
from bench.usage import Usage, sample_usage

# Names other modules import from here.
__all__ = [
    "BENCH_AGENT",
    "BENCH_NUMBER",
    "BENCH_SIP_NUMBER",
    "LLMS",
    "SERVERS",
    "LlmKind",
    "ServerKind",
    "Stack",
    "StackError",
    "bench_agent",
    "ensure_pipecat_venv",
    "main",
]


class Stack:
    """Fakes plus one server under test; ``with Stack(...) as stack`` waits until all are ready.

    - ``server``: ``aybiza``, ``pipecat`` (smart-turn v3) or ``pipecat-noturn`` (VAD timeout).
    - ``cpu``, ``fakes_cpu``: ``taskset -c`` CPU lists for the server and for the fakes.
    - ``stt_latency_ms``: before each final transcript; ``tts_latency_ms``: before each
      sentence's first audio; ``llm_latency_ms``: before the first token.
    - ``workers``: ``aybiza serve --workers`` (AYBIZA only).
    - ``llm``: AYBIZA's model engine, ``bedrock`` (the seed's default) or ``openai``.
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
        ready_timeout_s: float | None = None,
        llm: LlmKind = "bedrock",
    ) -> None:
        if server not in SERVERS:
            raise ValueError(f"server must be one of {SERVERS}, got {server!r}")
        if llm not in LLMS:
            raise ValueError(f"llm must be one of {LLMS}, got {llm!r}")
        # Pipecat's bot streams from an OpenAI-compatible model only.
        self.llm: LlmKind = llm if server == "aybiza" else "openai"
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
        # Workers start side by side, each importing the platform and warming its engines.
        default_timeout_s = 60.0 if workers == 1 else 90.0 * workers
        self.ready_timeout_s = ready_timeout_s if ready_timeout_s is not None else default_timeout_s
        self._log_dir: Path | None = None
        self.server_port = free_port()
        self.deepgram_stt_port = free_port()
        self.deepgram_tts_port = (
            self.deepgram_stt_port if stt_latency_ms == tts_latency_ms else free_port()
        )
        self.llm_port = free_port()
        self.sip_port = free_port()
        self._fakes: list[ManagedProcess] = []
        self._server: ManagedProcess | None = None

    # ------------------------------------------------------------------ addresses

    @property
    def url(self) -> str:
        """The server's base URL, for ``bench.loadgen --url``."""
        return f"http://127.0.0.1:{self.server_port}"

    @property
    def sip_uri(self) -> str:
        """The SIP URI of AYBIZA's bench agent, for ``bench.loadgen --sip``."""
        return f"sip:{BENCH_SIP_NUMBER}@127.0.0.1:{self.sip_port}"

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
            fakes = fake_processes(self)
            for fake, _ in fakes:
                fake.start()
                self._fakes.append(fake)
            for fake, port in fakes:
                wait_for_port(fake, port, self.ready_timeout_s)
            self._server = server_process(self)
            self._server.start()
            wait_for_http(self._server, self._health_url(), self.ready_timeout_s)
            if self.workers > 1:
                wait_for_workers(
                    self._server,
                    self._health_url(),
                    self.server_port,
                    self.workers,
                    self.ready_timeout_s,
                )
            if self.server == "aybiza":
                # An agent on the cloud engines (the fakes) on ``BENCH_NUMBER``; Pipecat's bot
                # answers any number the same way.
                key = (self.log_dir / "data" / "demo.key").read_text().strip()
                provision_bench_agent(self.url, key, self.llm)
        except BaseException:
            self.stop()
            raise

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

    def _health_url(self) -> str:
        return self.url + ("/readyz" if self.server == "aybiza" else "/healthz")


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
    parser.add_argument("--llm", choices=LLMS, default="bedrock")
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
        llm=args.llm,
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
