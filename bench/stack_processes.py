"""The processes of a ``Stack``: the fake engines (``tests/fakes/``) and the server under test
(``aybiza serve`` or Pipecat's bot), each with its command line, environment, CPU and log."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from bench.pipecat_setup import PIPECAT_BOT, PIPECAT_PYTHON
from bench.processes import ManagedProcess
from bench.stack_config import AYBIZA_BIN, LLM_MODEL
from bench.stack_env import aybiza_env, pipecat_env, process_env

if TYPE_CHECKING:
    from bench.stack import Stack


def stack_process(
    stack: Stack, name: str, argv: list[str], env: Mapping[str, str], *, server: bool = False
) -> ManagedProcess:
    """Process ``name`` of ``stack``, on the server's CPU or the fakes', logging to
    ``NAME.log`` in the stack's log directory."""
    return ManagedProcess(
        name=name,
        argv=argv,
        env=process_env(env),
        cpu=stack.cpu if server else stack.fakes_cpu,
        log_path=stack.log_dir / f"{name}.log",
    )


def fake_processes(stack: Stack) -> list[tuple[ManagedProcess, int]]:
    """Each fake with the port it serves on: the model, then Deepgram (one fake, or one for
    STT and one for TTS when their latencies differ)."""
    python = sys.executable
    transcripts = [arg for line in stack.transcripts for arg in ("--transcript", line)]

    def deepgram(name: str, port: int, latency_ms: int) -> tuple[ManagedProcess, int]:
        argv = [python, "tests/fakes/deepgram.py", "--port", str(port)]
        argv += ["--latency-ms", str(latency_ms), *transcripts]
        return stack_process(stack, name, argv, {}), port

    fake = "tests/fakes/bedrock.py" if stack.llm == "bedrock" else "tests/fakes/openai.py"
    llm_argv = [python, fake, "--port", str(stack.llm_port)]
    llm_argv += ["--first-token-ms", str(stack.llm_latency_ms)]
    llm_argv += ["--inter-token-ms", str(stack.llm_inter_token_ms), "--reply", stack.llm_reply]
    fakes = [(stack_process(stack, "llm", llm_argv, {}), stack.llm_port)]
    if stack.deepgram_tts_port == stack.deepgram_stt_port:
        fakes.append(deepgram("deepgram", stack.deepgram_stt_port, stack.stt_latency_ms))
    else:
        fakes.append(deepgram("deepgram-stt", stack.deepgram_stt_port, stack.stt_latency_ms))
        fakes.append(deepgram("deepgram-tts", stack.deepgram_tts_port, stack.tts_latency_ms))
    return fakes


def server_process(stack: Stack) -> ManagedProcess:
    """The server under test; for AYBIZA, its data directory is made in the log directory."""
    port = str(stack.server_port)
    if stack.server == "aybiza":
        argv = [str(AYBIZA_BIN), "serve", "--host", "127.0.0.1", "--port", port]
        argv += ["--workers", str(stack.workers)]
        data_dir = stack.log_dir / "data"
        data_dir.mkdir()
        return stack_process(stack, "server", argv, aybiza_env(stack, data_dir), server=True)
    turn = "speech-timeout" if stack.server == "pipecat-noturn" else "smart-turn"
    argv = [str(PIPECAT_PYTHON), str(PIPECAT_BOT), "--host", "127.0.0.1", "--port", port]
    argv += [
        "--deepgram-stt-url",
        stack.deepgram_stt_url,
        "--deepgram-tts-url",
        "ws://" + stack.deepgram_tts_url.removeprefix("http://"),
        "--llm-base-url",
        stack.llm_base_url,
        "--llm-model",
        LLM_MODEL,
        "--turn",
        turn,
    ]
    return stack_process(stack, "server", argv, pipecat_env(), server=True)
