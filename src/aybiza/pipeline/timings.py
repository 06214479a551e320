"""Per-turn timings: when each stage of a turn happened, and how much of it was the platform's."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class TurnTimings:
    """Monotonic timestamps (seconds) of one turn's stages.

    ``speech_end`` is the last voiced frame of the caller. The platform-added time is what is
    left of the voice-to-voice time after taking out the waits on engines: recognition (up to
    the final), the model (request to its first complete sentence) and synthesis (request to
    first audio). That is: handing the final to the model, the sentence to synthesis, and the
    first audio to the carrier.
    """

    speech_end: float
    stt_final: float | None = None
    llm_request: float | None = None
    llm_first_token: float | None = None
    first_sentence: float | None = None
    tts_request: float | None = None
    tts_first_audio: float | None = None
    first_audio_sent: float | None = None

    def platform_added(self) -> float | None:
        parts = (
            (self.stt_final, self.llm_request),
            (self.first_sentence, self.tts_request),
            (self.tts_first_audio, self.first_audio_sent),
        )
        if any(a is None or b is None for a, b in parts):
            return None
        return sum(b - a for a, b in parts if a is not None and b is not None)

    def as_ms(self) -> dict[str, float | None]:
        """Milliseconds after the end of the caller's speech, for the call record."""

        def rel(t: float | None) -> float | None:
            return None if t is None else round((t - self.speech_end) * 1000, 2)

        added = self.platform_added()
        return {
            "stt_final": rel(self.stt_final),
            "llm_request": rel(self.llm_request),
            "llm_first_token": rel(self.llm_first_token),
            "first_sentence": rel(self.first_sentence),
            "tts_request": rel(self.tts_request),
            "tts_first_audio": rel(self.tts_first_audio),
            "first_audio_sent": rel(self.first_audio_sent),
            "platform_added": None if added is None else round(added * 1000, 2),
        }
