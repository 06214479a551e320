"""What the benchmark's stack runs: the servers it can put under test, the model engines, the
fakes' script (transcripts, reply, latencies' defaults) and the agent AYBIZA answers with."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

ServerKind = Literal["aybiza", "pipecat", "pipecat-noturn"]
SERVERS: tuple[ServerKind, ...] = get_args(ServerKind)
# The model engine AYBIZA's bench agent runs on: the seed's default (Claude on Bedrock) or an
# OpenAI-compatible one. Pipecat's bot has an OpenAI LLM service only.
LlmKind = Literal["bedrock", "openai"]
LLMS: tuple[LlmKind, ...] = get_args(LlmKind)

REPO = Path(__file__).resolve().parents[1]
AYBIZA_BIN = REPO / ".venv" / "bin" / "aybiza"

# What the fake Deepgram "recognises", in order: the lines the load generator speaks
# (bench.loadgen.DEFAULT_LINES; not imported, as that module needs AYBIZA itself).
TRANSCRIPTS = (
    "I would like to book an appointment",
    "tomorrow morning",
    "what are your opening hours",
)
LLM_REPLY = "Sure, I can help with that."
LLM_MODEL = "gpt-4.1"
# The seed's agent JSON names Claude models by short name (SEED.md "models").
CLAUDE_MODELS = {
    "default": "claude-3-5-sonnet-v2",
    "fast": "claude-3-5-haiku",
    "complex": "claude-3-7-sonnet",
}
BENCH_AWS_REGION = "us-east-1"
# The number the load generator dials; AYBIZA's bench agent answers it on the cloud engines.
BENCH_NUMBER = "+15550100200"
# The same agent on a SIP trunk number that takes calls from loopback (the SIP callers).
BENCH_SIP_NUMBER = "+15550100201"
# AYBIZA's RTP ports in the benchmark: below Linux's ephemeral ports, which the callers use.
BENCH_RTP_PORTS = "20000-21999"
BENCH_AGENT: dict[str, object] = {
    "name": "Bench agent",
    "system_prompt": "You are a friendly phone agent. Answer in one short sentence.",
    "greeting": "Hello, thank you for calling. How can I help you today?",
    "voice": {"model": "aura-2-helena-en"},
    "models": {"default": LLM_MODEL, "fast": LLM_MODEL, "complex": LLM_MODEL},
    "engines": {"stt": "deepgram", "tts": "deepgram", "llm": "openai"},
}
FAKE_API_KEY = "test"


def bench_agent(llm: LlmKind) -> dict[str, object]:
    """The bench agent on ``llm``: the seed's agent (Deepgram Nova-3 + Aura-2, Claude on
    Bedrock) by default."""
    if llm == "openai":
        return BENCH_AGENT
    return {
        **BENCH_AGENT,
        "models": CLAUDE_MODELS,
        "engines": {"stt": "deepgram", "tts": "deepgram", "llm": "bedrock"},
    }
