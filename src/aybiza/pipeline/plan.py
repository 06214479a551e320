"""Everything one call's loop needs to know, resolved from the agent before the call starts."""

from __future__ import annotations

from dataclasses import dataclass, field

from aybiza.agents import defaults
from aybiza.agents.speech import SttOptions, VoiceOptions
from aybiza.conversation.routing import ModelRouter
from aybiza.pipeline.interruption import InterruptionPolicy


@dataclass(frozen=True, slots=True)
class CallPlan:
    """The agent's behaviour for one call, with units in the names; every default comes from
    ``aybiza.agents.defaults``, the table the agent schema uses too."""

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
    # The policies: when the caller has finished, what stops the agent, which model answers.
    end_of_turn_silence_ms: int = defaults.END_OF_TURN_SILENCE_MS
    interruption: InterruptionPolicy = field(default_factory=InterruptionPolicy)
    # Picks default/fast/complex per turn; None for scripted engines (flows).
    router: ModelRouter | None = None
    max_response_ms: int = defaults.MAX_RESPONSE_MS
    filler_phrases: tuple[str, ...] = defaults.FILLER_PHRASES
    max_call_duration_s: int = defaults.MAX_CALL_DURATION_S
    # DTMF digits are gathered until '#' or this long without a new digit.
    dtmf_interdigit_ms: int = defaults.DTMF_INTERDIGIT_MS
    apology: str = "Sorry, I am having trouble right now. Could you say that again?"
    # Languages the caller may speak; with ``detect_language`` the agent follows the one heard.
    languages: tuple[str, ...] = ()
    detect_language: bool = False
    # The agent offers tools (``automation.tools_enabled``); ``uses_tools`` says whether a
    # model reads their specs (a scripted engine's flow calls its tools itself).
    tools_enabled: bool = False
    uses_tools: bool = False
    max_tool_calls: int = defaults.MAX_TOOL_CALLS
    # Voice per language (BCP 47 tag) where the agent has one; else ``voice``.
    voices: dict[str, VoiceOptions] = field(default_factory=dict)

    def voice_for(self, language: str) -> VoiceOptions:
        return self.voices.get(language, self.voice)
