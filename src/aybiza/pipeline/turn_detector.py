"""``TurnDetector``: when the caller has finished speaking.

Two signals end a caller's turn: the recogniser's own end of utterance (a ``final`` with
``speech_final``, or ``end_of_speech``), and the local VAD hearing ``end_of_turn_silence_ms`` of
silence, which asks the recogniser to finalise now (the next ``final`` then ends the turn). Finals
that arrive before either are gathered into the turn's text. Defaults:
``aybiza.agents.defaults``.
"""

from __future__ import annotations

import time

from aybiza.agents import defaults
from aybiza.pipeline.vad import VadState, VoiceActivityDetector


class TurnDetector:
    """Tracks one call's caller turns. ``on_frame`` per 20 ms frame; ``on_final`` and
    ``on_end_of_speech`` for recogniser events; each returns the finished turn's text when the
    turn is over."""

    def __init__(self, end_of_turn_silence_ms: int = defaults.END_OF_TURN_SILENCE_MS) -> None:
        self.vad = VoiceActivityDetector(end_silence_ms=end_of_turn_silence_ms)
        self.interim = ""
        self._segments: list[str] = []
        self._finalize_requested = False
        self._last_voiced_at: float | None = None

    @property
    def state(self) -> VadState:
        return self.vad.state

    @property
    def speech_end(self) -> float:
        """When the caller was last heard (``time.monotonic()``), for the turn's latency."""
        return self._last_voiced_at or time.monotonic()

    def on_frame(self, frame: bytes) -> VadState:
        """Feed one inbound frame; ``state.ended`` asks the caller of this method to have the
        recogniser finalise (``finalize_requested`` is then set)."""
        state = self.vad.feed(frame)
        if state.started:
            self.interim = ""
        if state.speaking and state.silence_ms == 0:
            self._last_voiced_at = time.monotonic()
        if state.ended:
            self._finalize_requested = True
        return state

    def on_speech_started(self) -> None:
        self.interim = ""

    def on_interim(self, text: str) -> None:
        self.interim = text

    def on_final(self, text: str, *, speech_final: bool) -> str | None:
        """A final stretch of text; the turn's whole text once the turn is over."""
        if text.strip():
            self._segments.append(text.strip())
        if speech_final or self._finalize_requested:
            return self._complete()
        return None

    def on_end_of_speech(self) -> str | None:
        """The recogniser decided the utterance ended without new text."""
        return self._complete()

    def _complete(self) -> str | None:
        text = " ".join(self._segments)
        self._segments.clear()
        self.interim = ""
        self._finalize_requested = False
        return text or None
