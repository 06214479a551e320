"""Everything one call's loop needs to know, resolved from the agent before the call starts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from aybiza.agents import defaults
from aybiza.agents.speech import SttOptions, VoiceOptions
from aybiza.conversation.routing import ModelRouter
from aybiza.pipeline.interruption import InterruptionPolicy
from aybiza.pipeline.recognition_feed import DEFAULT_BATCHING, SttBatching


@dataclass(frozen=True, slots=True)
class VoicemailPlan:
    """Answering-machine handling of an outbound call: who detects (``local``: this loop from
    the callee's audio; ``carrier``: the carrier reports it), what to do on a machine, and the
    message to leave after the beep."""

    detection: Literal["local", "carrier"]
    action: Literal["leave_message", "hang_up"]
    message: str = ""
    max_wait_for_beep_ms: int = 30000


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
    end_of_turn_model: bool = defaults.END_OF_TURN_MODEL
    interruption: InterruptionPolicy = field(default_factory=InterruptionPolicy)
    # Picks default/fast/complex per turn; None for scripted engines (flows).
    router: ModelRouter | None = None
    max_response_ms: int = defaults.MAX_RESPONSE_MS
    # Start the answer, held, on a likely-final transcript before the turn ends.
    speculative_answers: bool = defaults.SPECULATIVE_ANSWERS
    # The server's, not the agent's: how caller audio is batched to the recogniser.
    stt_batching: SttBatching = DEFAULT_BATCHING
    filler_phrases: tuple[str, ...] = defaults.FILLER_PHRASES
    max_call_duration_s: int = defaults.MAX_CALL_DURATION_S
    # DTMF digits are gathered until '#' or this long without a new digit.
    dtmf_interdigit_ms: int = defaults.DTMF_INTERDIGIT_MS
    # PCI mode: keyed-in digits reach the model, records and logs only as ``*`` per key.
    mask_keyed_digits: bool = False
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
    # Outbound calls whose agent screens for answering machines; None greets at once.
    voicemail: VoicemailPlan | None = None

    def voice_for(self, language: str) -> VoiceOptions:
        return self.voices.get(language, self.voice)
