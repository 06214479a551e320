"""Turn-taking trials through the real server with the Twilio simulator (``bench.turns`` and
``test_turn_taking``): the fake Deepgram (STT and TTS) and Bedrock in this event loop, the
server in its own process, one simulated call per trial.

Each trial gets its own transcripts: the fake hands its script to a listen connection when the
connection opens, so calls are dialled one at a time, each once the previous call's recogniser
is connected, and then run side by side.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from tests.e2e.server_process import RunningServer, running_server
from tests.fakes.bedrock import FakeBedrock
from tests.fakes.deepgram import FAKE_API_KEY, FakeDeepgram
from tests.fakes.deepgram_listen import Script
from tests.fakes.deepgram_speak import speech_audio
from tests.fakes.llm_server import Reply

from aybiza.agents.speech import VoiceOptions
from aybiza.audio.codec import FRAME_BYTES, SAMPLE_RATE_HZ, silence, ulaw_to_array
from aybiza.providers.tts.espeak import EspeakTts
from aybiza.simulator.caller_sounds import sound
from aybiza.simulator.heard import continuity, words_between
from aybiza.simulator.twilio_client import SimulatedCall

GREETING = "Hello, thank you for calling ACME support. How can I help you today?"
REPLY = "Sure, I can help with that."
# A plain prompt agent (one model request per turn) on the cloud engines, i.e. the fakes.
NUMBER = "+15550100300"
AGENT = {
    "name": "Turn-taking agent",
    "system_prompt": "You are a friendly phone agent. Answer in one short sentence.",
    "greeting": GREETING,
    "engines": {"stt": "deepgram", "tts": "deepgram", "llm": "bedrock"},
    # One model for every route: the injected first-token latency is then the model's delay.
    "models": {
        "default": "claude-3-5-haiku",
        "fast": "claude-3-5-haiku",
        "complex": "claude-3-5-haiku",
    },
}
BYTES_PER_CHAR = len(speech_audio("a"))
DATA = Path(__file__).resolve().parents[1] / "data" / "turns"


@dataclass(frozen=True, slots=True)
class EngineDelays:
    """The injected engine latencies: STT final and TTS first audio (one fake), LLM first
    token. Their sum is what a reply costs before the platform adds anything."""

    deepgram_ms: int = 150
    llm_ms: int = 300

    @property
    def total_ms(self) -> int:
        return 2 * self.deepgram_ms + self.llm_ms


class TurnStack:
    """The fakes and the server; ``dial`` places one call whose recogniser hears
    ``transcripts``."""

    def __init__(self, server: RunningServer, deepgram: FakeDeepgram) -> None:
        self.server = server
        self.deepgram = deepgram
        self._dialling = asyncio.Lock()

    async def dial(self, transcripts: Sequence[str]) -> SimulatedCall:
        async with self._dialling:
            self.deepgram.script = Script(list(transcripts))
            opened = len(self.deepgram.listen_connections)
            call = await SimulatedCall.dial(
                self.server.base_url, to=NUMBER, auth_token=self.server.auth_token
            )
            for _ in range(500):
                if len(self.deepgram.listen_connections) > opened:
                    break
                await asyncio.sleep(0.01)
            return call


@asynccontextmanager
async def turn_stack(
    data_dir: Path,
    delays: EngineDelays,
    *,
    server_src: str | None = None,
    server_env: dict[str, str] | None = None,
    parameters: Mapping[str, object] | None = None,
) -> AsyncIterator[TurnStack]:
    """Fakes in this loop, the server (from ``server_src`` when given) pointed at them."""
    deepgram = FakeDeepgram(latency_ms=delays.deepgram_ms)
    bedrock = FakeBedrock(default=Reply(text=REPLY, first_token_ms=delays.llm_ms))
    async with deepgram, bedrock:
        env = {
            "DEEPGRAM_API_KEY": FAKE_API_KEY,
            "AYBIZA_DEEPGRAM_URL": deepgram.url,
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "AKIAFAKEFAKEFAKE",
            "AWS_SECRET_ACCESS_KEY": "fake-secret",
            "AYBIZA_BEDROCK_ENDPOINT_URL": bedrock.url,
            "AYBIZA_DEFAULT_MAX_CONCURRENT_CALLS": "1000",
            "AYBIZA_LOG_LEVEL": "warning",
        }
        env.update(server_env or {})
        if server_src:
            env["PYTHONPATH"] = os.pathsep.join([server_src, os.environ.get("PYTHONPATH", "")])
        # A loaded machine (benchmarks side by side) can take over 90 s to start a server.
        server_cm = running_server(data_dir, env, start_timeout_s=240)
        server = await asyncio.to_thread(server_cm.__enter__)
        try:
            await _provision(server, parameters)
            yield TurnStack(server, deepgram)
        finally:
            await asyncio.to_thread(server_cm.__exit__, None, None, None)


async def _provision(server: RunningServer, parameters: Mapping[str, object] | None) -> None:
    """The agent and its number, created through the API as a user would."""
    headers = {"Authorization": f"Bearer {server.api_key}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=10) as client:
        body = AGENT if parameters is None else {**AGENT, "parameters": parameters}
        agent = await client.post("/v1/agents", json=body)
        agent.raise_for_status()
        number = {"number": NUMBER, "type": "twilio", "agent_id": agent.json()["id"]}
        (await client.post("/v1/phone-numbers", json=number)).raise_for_status()


_speech_cache: dict[tuple[str, str, float], bytes] = {}
_tts = EspeakTts()


async def spoken(text: str, voice: str = "en-us", speed: float = 1.0) -> bytes:
    """``text`` synthesized with espeak-ng (cached per process)."""
    key = (text, voice, speed)
    if key not in _speech_cache:
        options = VoiceOptions(model=voice, language=voice, speed=speed)
        _speech_cache[key] = await _tts.synthesize(text, options)
    return _speech_cache[key]


async def trial_audio(trial: dict[str, Any]) -> bytes:
    """The caller's audio for a barge-in trial: words (espeak) or a sound."""
    if "say" in trial:
        return await spoken(trial["say"], trial.get("voice", "en-us"), trial.get("speed", 1.0))
    return sound(trial["sound"], trial["duration_ms"], trial["seed"])


def first_voiced_frame(mulaw: bytes) -> int:
    """Index of the first 20 ms frame louder than -44 dBFS (0 if none is)."""
    frames = len(mulaw) // FRAME_BYTES
    samples = ulaw_to_array(mulaw[: frames * FRAME_BYTES]).astype(np.float32)
    rms = np.sqrt(np.mean(samples.reshape(frames, FRAME_BYTES) ** 2, axis=1))
    voiced = np.flatnonzero(rms > 200.0)
    return int(voiced[0]) if voiced.size else 0


@dataclass(frozen=True, slots=True)
class BargeInResult:
    """One barge-in trial: when ``clear`` came after the caller's sound began (None: never),
    whether the greeting was cut for good, and the words heard twice or never; also the audio
    heard twice or never where the heard stretches join (a resume's precision, in ms)."""

    id: str
    interrupts: bool
    clear_ms: float | None
    cut: bool
    repeated_words: int
    skipped_words: int
    repeated_ms: float = 0.0
    skipped_ms: float = 0.0

    @property
    def correct(self) -> bool:
        return self.cut == self.interrupts


async def run_barge_in(stack: TurnStack, trial: dict[str, Any], at_ms: int) -> BargeInResult:
    """The caller makes the trial's sound ``at_ms`` into the greeting; the greeting is then
    heard to its end (resumed) or not (cut)."""
    audio = await trial_audio(trial)
    call = await stack.dial([trial["transcript"]])
    async with call:
        await call.wait_for_agent_audio(timeout=15)
        assert call.started_at is not None and call.greeting_latency is not None
        playing_from = call.started_at + call.greeting_latency
        await asyncio.sleep(max(0.0, playing_from + at_ms / 1000 - time.monotonic()))
        queued = time.monotonic()
        onset = queued + first_voiced_frame(audio) * 0.02
        await call.say(audio + silence(300))
        # The decision may take the whole window (and the final, its latency) after the sound;
        # a loaded machine adds to that.
        await asyncio.sleep(3.0)
        await call.wait_until_agent_done(quiet_ms=1500, timeout=30)
        heard = call.played_audio
        clears = [at for at in call.clears if at >= queued]
    expected = speech_audio(GREETING)
    joined = continuity(heard, expected)
    # Cut: stopped (a clear) and never heard to its end. Without a clear nothing was cut.
    cut = bool(clears) and joined.reached_bytes < len(expected) - 2 * BYTES_PER_CHAR
    repeated = skipped = 0
    for before, after in zip(joined.stretches, joined.stretches[1:], strict=False):
        repeated += words_between(GREETING, after.start, before.end, BYTES_PER_CHAR)
        skipped += words_between(GREETING, before.end, after.start, BYTES_PER_CHAR)
    return BargeInResult(
        id=trial["id"],
        interrupts=trial["interrupts"],
        clear_ms=(clears[0] - onset) * 1000 if clears else None,
        cut=cut,
        repeated_words=repeated,
        skipped_words=skipped,
        repeated_ms=joined.repeated_bytes * 1000 / SAMPLE_RATE_HZ,
        skipped_ms=joined.skipped_bytes * 1000 / SAMPLE_RATE_HZ,
    )


@dataclass(frozen=True, slots=True)
class TurnResult:
    """One end-of-turn trial: whether the agent answered before the caller's last part (cut
    off), and the reply's first audio after the caller's last word."""

    id: str
    cut_off: bool
    reply_ms: float | None


async def run_turn(stack: TurnStack, trial: dict[str, Any]) -> TurnResult:
    """After the greeting, the caller says the trial's parts with its pause between them."""
    parts: list[str] = trial["parts"]
    pieces = [await spoken(text) for text in parts]
    audio = silence(trial.get("pause_ms", 0)).join(pieces)
    call = await stack.dial(parts)
    async with call:
        await call.wait_for_agent_audio(timeout=15)
        # All of the greeting first: on a loaded machine a pause between its sentences can
        # outlast the quiet wait, and its tail would then read as a reply that cut in.
        whole = len(speech_audio(GREETING)) - 2 * BYTES_PER_CHAR  # sentences sent apart
        await call.wait_for_agent_bytes(whole, timeout=30)
        await call.wait_until_agent_done(quiet_ms=300, timeout=30)
        began = time.monotonic()
        await call.say(audio + silence(200))
        reply = await call.wait_for_agent_audio(timeout=15)
        speech_end = call.caller_turns[-1].ended_at
        early = [e for e in call.received_events if e.kind == "media" and began < e.at < speech_end]
    return TurnResult(trial["id"], cut_off=bool(early), reply_ms=reply * 1000)
