"""In-process call loops: a real ``CallSession`` on the in-memory carrier, with engines that
implement the engine protocols and do exactly what the test says, when it says it.

Nothing here stands in for the loop itself: the session, its policies, playout, conversation and
tool loop are the product's own. The engines are scripted the way the network fakes are (the
Deepgram, Bedrock and Twilio fakes under ``tests/fakes``), one layer closer: a test decides when the
recogniser hears what, what the model answers and how long synthesis takes, then looks at what
the carrier was sent and what the call recorded. A whole call runs in milliseconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aybiza.agents.speech import SttOptions, VoiceOptions
from aybiza.analytics.recording import CallRecorder, CallStats, Speaker, TurnRecord
from aybiza.audio.codec import FRAME_BYTES, silence
from aybiza.conversation.tools import CallControls, ToolPolicy
from aybiza.pipeline.interruption import InterruptionPolicy
from aybiza.pipeline.phrases import PhraseCache
from aybiza.pipeline.plan import CallPlan
from aybiza.pipeline.session import CallSession
from aybiza.providers.base import (
    AnswerEnd,
    LlmEvent,
    LlmRequest,
    Message,
    SttEvent,
    TextDelta,
    ToolCall,
    ToolResult,
    ToolSpec,
)
from aybiza.providers.engines import Engines
from aybiza.telephony.memory.connection import BYTES_PER_MS, MemoryMedia

# Synthesized speech is this long per word (a μ-law byte that is not silence).
MS_PER_WORD = 100
_SPEECH_BYTE = 0x10


def speech_audio(text: str) -> bytes:
    """What the scripted voice says for ``text``: 100 ms of sound per word."""
    return bytes([_SPEECH_BYTE]) * (MS_PER_WORD * BYTES_PER_MS * max(1, len(text.split())))


# ---------------------------------------------------------------- recognition


class ScriptedSttStream:
    """A recognition stream whose events the test emits; it keeps the audio it was sent."""

    def __init__(self) -> None:
        self.audio = bytearray()
        self.finalized = 0
        self.closed = False
        self._events: asyncio.Queue[SttEvent | None] = asyncio.Queue()

    def emit(self, event: SttEvent) -> None:
        self._events.put_nowait(event)

    async def send_audio(self, mulaw: bytes) -> None:
        self.audio += mulaw

    async def finalize(self) -> None:
        self.finalized += 1

    async def events(self) -> AsyncIterator[SttEvent]:
        while (event := await self._events.get()) is not None:
            yield event

    async def close(self) -> None:
        self.closed = True
        self._events.put_nowait(None)


class ScriptedStt:
    name = "scripted-stt"
    finalizes_early = True  # a streaming recogniser, as Deepgram: it gets the early finalise

    def __init__(self) -> None:
        self.streams: list[ScriptedSttStream] = []

    async def open_stream(self, options: SttOptions) -> ScriptedSttStream:
        stream = ScriptedSttStream()
        self.streams.append(stream)
        return stream

    async def aclose(self) -> None:
        return None


# ---------------------------------------------------------------- synthesis


class ScriptedTtsSession:
    def __init__(self, engine: ScriptedTts) -> None:
        self._engine = engine

    async def stream(self, text: str) -> AsyncIterator[bytes]:
        self._engine.spoken.append(text)
        yield speech_audio(text)

    async def clear(self) -> None:
        self._engine.clears += 1

    async def aclose(self) -> None:
        return None


class ScriptedTts:
    """Speaks each sentence at once as ``speech_audio``."""

    name = "scripted-tts"

    def __init__(self) -> None:
        self.spoken: list[str] = []
        self.clears = 0

    def open_session(self, voice: VoiceOptions) -> ScriptedTtsSession:
        return ScriptedTtsSession(self)

    async def stream(self, text: str, voice: VoiceOptions) -> AsyncIterator[bytes]:
        yield speech_audio(text)

    async def synthesize(self, text: str, voice: VoiceOptions) -> bytes:
        return speech_audio(text)

    async def aclose(self) -> None:
        return None


# ---------------------------------------------------------------- the model

Answer = Sequence[LlmEvent]


class ScriptedLlmSession:
    def __init__(self, engine: ScriptedLlm) -> None:
        self._engine = engine

    async def respond(self, request: LlmRequest) -> AsyncIterator[LlmEvent]:
        self._engine.requests.append(request)
        if self._engine.hold is not None:
            await self._engine.hold.wait()
        answers = self._engine.answers
        events: list[LlmEvent] = answers.pop(0) if answers else say("Okay.")
        for event in events:
            yield event


class ScriptedLlm:
    """Answers each request with the next scripted answer (``Okay.`` when none is left);
    ``hold``, when set, keeps every answer waiting until the test sets it."""

    name = "scripted-llm"
    is_scripted = False

    def __init__(self, answers: Sequence[Answer] = ()) -> None:
        self.answers: list[list[LlmEvent]] = [list(answer) for answer in answers]
        self.requests: list[LlmRequest] = []
        self.hold: asyncio.Event | None = None

    def open_session(self, call_id: str) -> ScriptedLlmSession:
        return ScriptedLlmSession(self)

    async def aclose(self) -> None:
        return None


def say(text: str) -> list[LlmEvent]:
    """A plain spoken answer."""
    return [TextDelta(text), AnswerEnd("end_turn")]


# ---------------------------------------------------------------- tools and the record


@dataclass
class GatedTools:
    """A ``ToolRunner`` whose tool waits on ``release`` (so a test can interrupt it)."""

    specs_: tuple[ToolSpec, ...]
    release: asyncio.Event = field(default_factory=asyncio.Event)
    started: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)

    def bind(
        self, controls: CallControls, transcript: Callable[[], Sequence[Message]]
    ) -> GatedTools:
        """The kit binds to the call's controls; these tools act on nothing of the call."""
        return self

    def specs(self) -> tuple[ToolSpec, ...]:
        return self.specs_

    def policy(self, name: str) -> ToolPolicy:
        return ToolPolicy()

    async def run(self, call: ToolCall) -> ToolResult:
        self.started.append(call.id)
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled.append(call.id)
            raise
        self.finished.append(call.id)
        return ToolResult(call.id, {"ok": True})

    def check_precondition(self, call: ToolCall, transcript: Sequence[Message]) -> str | None:
        return None

    async def aclose(self) -> None:
        return None


@dataclass
class MemoryRecorder:
    """A ``CallRecorder`` that keeps what the loop reported."""

    lines: list[tuple[Speaker, str]] = field(default_factory=list)
    turns: list[TurnRecord] = field(default_factory=list)
    ended_with: tuple[str, CallStats, str | None] | None = None

    def transcript(self, speaker: Speaker, text: str) -> None:
        self.lines.append((speaker, text))

    def turn(self, record: TurnRecord) -> None:
        self.turns.append(record)

    def ended(self, reason: str, stats: CallStats, transfer_to: str | None) -> None:
        self.ended_with = (reason, stats, transfer_to)


# ---------------------------------------------------------------- the call


def plan(**overrides: Any) -> CallPlan:
    """A call plan with the table's defaults; ``overrides`` set fields by name."""
    values: dict[str, Any] = {
        "call_id": "call-1",
        "call_sid": "CA-loop",
        "agent_key": "agent@1",
        "greeting": "Hello there.",
        "system_prompt": "Help.",
        "model": "scripted",
        "temperature": 0.3,
        "max_tokens": 300,
        "context_window": 32_000,
        "language": "en-US",
        "voice": VoiceOptions(),
        "stt": SttOptions(),
        "filler_phrases": (),
        "interruption": InterruptionPolicy(),
        # These tests hand the recogniser's events over one by one and expect the text rule's
        # decision at once; the end-of-turn model's verdict comes from its executor (its part:
        # test_turn_detector_model.py, and through the real server tests/e2e/test_turn_taking.py).
        "end_of_turn_model": False,
    }
    return CallPlan(**(values | overrides))


class LoopCall:
    """One in-process call: the session, its carrier connection, its engines and record
    (``recorder``, else a ``MemoryRecorder``)."""

    def __init__(
        self,
        call_plan: CallPlan,
        llm: ScriptedLlm,
        tools: GatedTools | None = None,
        recorder: CallRecorder | None = None,
    ) -> None:
        self.stt, self.tts, self.llm = ScriptedStt(), ScriptedTts(), llm
        self.media = MemoryMedia()
        self.recorder = MemoryRecorder()
        engines = Engines(stt=self.stt, tts=self.tts, llm=llm)
        self.session = CallSession(
            call_plan, engines, self.media, recorder or self.recorder, PhraseCache(), tools
        )
        self.media.listener = self.session

    @property
    def recognition(self) -> ScriptedSttStream:
        return self.stt.streams[-1]

    async def start(self) -> None:
        await self.session.start()
        await settle()

    async def hear(self, event: SttEvent) -> None:
        """The recogniser reports ``event``."""
        self.recognition.emit(event)
        await settle()

    async def caller_says(self, text: str) -> None:
        """A whole caller utterance, as the recogniser reports a finished one."""
        await self.hear(SttEvent("final", text, speech_final=True))

    async def frames(self, audio: bytes) -> None:
        """Caller audio, 20 ms at a time."""
        for offset in range(0, len(audio) - FRAME_BYTES + 1, FRAME_BYTES):
            await self.session.on_audio(audio[offset : offset + FRAME_BYTES])
        await settle()

    async def play_all(self) -> list[str]:
        """The caller hears everything queued (marks echoed)."""
        echoed = self.media.play()
        await settle()
        return echoed

    async def end(self) -> None:
        await self.session.end("caller-hangup")


async def settle(rounds: int = 20) -> None:
    """Let every task the loop started run until it waits on something outside."""
    for _ in range(rounds):
        await asyncio.sleep(0)


def quiet(ms: int) -> bytes:
    return silence(ms)


Predicate = Callable[[], bool]
