"""The environment of each process of the stack: a few variables inherited from the shell, the
rest set here, so that a developer's shell cannot change which engine a server picks."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from bench.stack_config import BENCH_AWS_REGION, BENCH_RTP_PORTS, FAKE_API_KEY

if TYPE_CHECKING:
    from pathlib import Path

    from bench.stack import Stack

# Inherited by every process; anything else (cloud credentials, proxies) is left out.
_INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "PYTHONPATH")


def process_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The inherited variables, unbuffered Python output, then ``extra``."""
    env = {name: os.environ[name] for name in _INHERITED_ENV if name in os.environ}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def aybiza_env(stack: Stack, data_dir: Path) -> dict[str, str]:
    """``aybiza serve``'s settings: its data in ``data_dir``, every engine on ``stack``'s fakes."""
    return {
        "AYBIZA_DATA_DIR": str(data_dir),
        "DEEPGRAM_API_KEY": FAKE_API_KEY,
        "AYBIZA_DEEPGRAM_URL": stack.deepgram_stt_url,
        # Read once AYBIZA takes a separate TTS base URL; equal latencies share one fake.
        "AYBIZA_DEEPGRAM_TTS_URL": stack.deepgram_tts_url,
        "AYBIZA_OPENAI_BASE_URL": stack.llm_base_url,
        "OPENAI_API_KEY": FAKE_API_KEY,
        # Bedrock: the fake runtime, reached with botocore's SigV4 signing.
        "AYBIZA_BEDROCK_ENDPOINT_URL": f"http://127.0.0.1:{stack.llm_port}",
        "AWS_REGION": BENCH_AWS_REGION,
        "AWS_ACCESS_KEY_ID": "AKIDBENCHFAKE",
        "AWS_SECRET_ACCESS_KEY": FAKE_API_KEY,
        # The benchmark's callers all reach the demo tenant: no concurrency cap.
        "AYBIZA_DEFAULT_MAX_CONCURRENT_CALLS": "1000000",
        # SIP on a port of its own (stacks may run side by side), RTP below the
        # ephemeral ports the SIP callers bind.
        "AYBIZA_SIP_LISTEN": f"udp:127.0.0.1:{stack.sip_port}",
        "AYBIZA_RTP_PORTS": BENCH_RTP_PORTS,
    }


def pipecat_env() -> dict[str, str]:
    """Pipecat's bot: the fakes accept any key."""
    return {"DEEPGRAM_API_KEY": FAKE_API_KEY, "OPENAI_API_KEY": FAKE_API_KEY}
