"""The three engine interfaces every provider implements: speech-to-text, text-to-speech, LLM.

Audio crossing these interfaces is always raw μ-law, 8 kHz, mono (Twilio's format), so a cloud
engine can pass it through untouched and only an embedded engine converts. Adapters know nothing
of calls, Twilio or HTTP; the pipeline drives them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from aybiza.agents import defaults
from aybiza.agents.speech import SttOptions, VoiceOptions

# ---------------------------------------------------------------- speech-to-text


SttEventKind = Literal["speech_started", "interim", "final", "end_of_speech"]


@dataclass(frozen=True, slots=True)
class SttEvent:
    """One event from a recognition stream.

    - ``speech_started``: the engine heard the caller start speaking.
    - ``interim``: a hypothesis for the utterance so far (may change).
    - ``final``: text for a stretch of audio that will not change; ``speech_final`` is true
      when the engine also decided the caller finished the utterance (end of turn).
    - ``end_of_speech``: the engine decided the utterance ended without new text.
    """

    kind: SttEventKind
    text: str = ""
    speech_final: bool = False
    confidence: float | None = None
    language: str | None = None


class SttStream(Protocol):
    """A live recognition stream for one call."""

    async def send_audio(self, mulaw: bytes) -> None:
        """Feed caller audio (μ-law 8 kHz, any length, usually one 20 ms frame)."""

    async def finalize(self) -> None:
        """The pipeline's VAD decided the caller stopped: produce the final text now."""

    def events(self) -> AsyncIterator[SttEvent]:
        """Recognition events, in order, until the stream is closed."""
        ...

    async def close(self) -> None:
        """End the stream and release its resources. Idempotent."""


class SttEngine(Protocol):
    """A speech-to-text engine shared by every call in the process."""

    name: str

    async def open_stream(self, options: SttOptions) -> SttStream:
        """Open a recognition stream for one call."""
        ...

    async def aclose(self) -> None:
        """Release the engine's resources at shutdown."""


# ---------------------------------------------------------------- text-to-speech


class TtsSession(Protocol):
    """Speech synthesis for one call (a streaming engine keeps one connection per call)."""

    def stream(self, text: str) -> AsyncIterator[bytes]:
        """Synthesize one sentence, yielding μ-law 8 kHz chunks as soon as each is ready."""
        ...

    async def clear(self) -> None:
        """Barge-in: drop any text and audio still queued in the engine."""

    async def aclose(self) -> None:
        """The call is over. Idempotent."""


class TtsEngine(Protocol):
    """A text-to-speech engine shared by every call in the process."""

    name: str

    def open_session(self, voice: VoiceOptions) -> TtsSession:
        """Synthesis for one call in this voice."""
        ...

    def stream(self, text: str, voice: VoiceOptions) -> AsyncIterator[bytes]:
        """Synthesize one sentence, yielding μ-law 8 kHz chunks as soon as each is ready.

        Cancelling the consumer (barge-in) must stop the work promptly.
        """
        ...

    async def synthesize(self, text: str, voice: VoiceOptions) -> bytes:
        """Synthesize a whole phrase into μ-law 8 kHz (greetings and fillers, then cached)."""
        ...

    async def aclose(self) -> None:
        """Release the engine's resources at shutdown."""


# ---------------------------------------------------------------- language model


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool the model may call: name, description and JSON Schema of its arguments."""

    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The model asked to run a tool."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a tool returned, sent back to the model."""

    tool_call_id: str
    content: dict[str, Any]
    is_error: bool = False


Role = Literal["user", "assistant"]


@dataclass(slots=True)
class Message:
    """One conversation message. ``text`` for speech; tool calls/results for automation."""

    role: Role
    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_results: list[ToolResult] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LlmRequest:
    """Everything a model needs for one answer."""

    system: str
    messages: tuple[Message, ...]
    model: str = ""
    temperature: float = 0.3
    max_tokens: int = defaults.MAX_TOKENS
    tools: tuple[ToolSpec, ...] = ()
    # The language the caller is speaking (BCP 47), so the model answers in it.
    language: str = "en-US"
    # "none": the model must answer in words, calling no tool (the turn's tool calls are used
    # up). Each adapter says so the way its vendor allows; ``tools`` still describe the tool
    # calls already in ``messages``.
    tool_choice: Literal["auto", "none"] = "auto"


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the answer's text."""

    text: str


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True, slots=True)
class AnswerEnd:
    """The answer is complete. ``stop_reason`` follows Bedrock's names (``end_turn``,
    ``tool_use``, ``max_tokens``...)."""

    stop_reason: str
    usage: Usage = Usage()
    latency_ms: int | None = None


LlmEvent = TextDelta | ToolCall | AnswerEnd


class LlmSession(Protocol):
    """A model conversation bound to one call (stateless engines ignore the binding)."""

    def respond(self, request: LlmRequest) -> AsyncIterator[LlmEvent]:
        """Stream one answer: text deltas and tool calls, then exactly one ``AnswerEnd``."""
        ...


class LlmEngine(Protocol):
    """A language-model engine shared by every call in the process. ``is_scripted``: the
    engine follows the agent's flow rather than a model (it reads no tool specs: a flow's tool
    nodes call the tools themselves, and it has one "model", the flow)."""

    name: str
    is_scripted: bool

    def open_session(self, call_id: str) -> LlmSession:
        """A session for one call."""
        ...

    async def aclose(self) -> None:
        """Release the engine's resources at shutdown."""
