"""The engines one call runs, chosen once per call by the registry."""

from __future__ import annotations

from dataclasses import dataclass, field

from aybiza.providers.base import LlmEngine, SttEngine, TtsEngine


@dataclass(frozen=True, slots=True)
class Engines:
    """The engines a call runs, and why they were chosen (recorded on the call)."""

    stt: SttEngine
    tts: TtsEngine
    llm: LlmEngine
    reason: str = ""
    # The embedded voice that takes over when a cloud voice fails mid-call.
    fallback_tts: TtsEngine | None = None
    # The embedded recogniser that takes over when a cloud one cannot be reached.
    fallback_stt: SttEngine | None = None
    # What the engines were sent in place of the agent's own names (``voice_mapped``:
    # ``"aura-asteria-en -> aura-2-asteria-en"``, ``stt_language``: ``"es-ES -> es"``).
    notes: dict[str, str] = field(default_factory=dict)

    def describe(self) -> dict[str, str]:
        """What the call record keeps as ``engines``."""
        return {
            "stt": self.stt.name,
            "tts": self.tts.name,
            "llm": self.llm.name,
            "reason": self.reason,
            **self.notes,
        }
