"""Everything one call's loop needs to know, resolved from the agent before the call starts."""

from __future__ import annotations

from dataclasses import dataclass, field

from aybiza.agents.speech import SttOptions, VoiceOptions
from aybiza.conversation.routing import ModelRouter


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
    # Picks default/fast/complex per turn; None for engines with a single "model" (flows).
    router: ModelRouter | None = None
    # Languages the caller may speak; with ``detect_language`` the agent follows the one heard.
    languages: tuple[str, ...] = ()
    detect_language: bool = False
    # Tools offered to a cloud model (the call-ending built-ins, plus the runner's).
    tools_enabled: bool = False
    max_tool_calls: int = 5
    # Voice per language (BCP 47 tag) where the agent has one; else ``voice``.
    voices: dict[str, VoiceOptions] = field(default_factory=dict)

    def voice_for(self, language: str) -> VoiceOptions:
        return self.voices.get(language, self.voice)
