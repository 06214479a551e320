"""Everything one call's loop needs to know, resolved from the agent before the call starts."""

from __future__ import annotations

from dataclasses import dataclass, field

from aybiza.providers.base import LlmEngine, SttEngine, SttOptions, TtsEngine, VoiceOptions


@dataclass(frozen=True, slots=True)
class Engines:
    """The engines a call runs, and why they were chosen (recorded on the call)."""

    stt: SttEngine
    tts: TtsEngine
    llm: LlmEngine
    reason: str = ""

    def describe(self) -> dict[str, str]:
        return {
            "stt": self.stt.name,
            "tts": self.tts.name,
            "llm": self.llm.name,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class CallPlan:
    """The agent's behaviour for one call, with units in the names."""

    call_id: str
    call_sid: str
    # Identifies the agent version for caches (greeting audio per version and voice).
    agent_key: str
    greeting: str
    system_prompt: str
    model: str
    temperature: float
    max_tokens: int
    context_window: int
    language: str
    voice: VoiceOptions
    stt: SttOptions
    end_of_turn_silence_ms: int = 500
    min_interruption_speech_ms: int = 500
    backchannels: tuple[str, ...] = ("uh-huh", "uh huh", "yeah", "okay", "ok", "mm-hmm", "right")
    max_response_ms: int = 1500
    filler_phrases: tuple[str, ...] = ("One moment.",)
    max_call_duration_s: int = 1800
    # DTMF digits are gathered until '#' or this long without a new digit.
    dtmf_interdigit_ms: int = 1000
    apology: str = "Sorry, I am having trouble right now. Could you say that again?"
    tags: dict[str, str] = field(default_factory=dict)
