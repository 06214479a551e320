"""``TurnDetector``: when the caller has finished speaking.

Silence alone is a poor judge: a short wait cuts off "my number is ... five five five", a long
one makes every answer late. So the detector combines what is heard with what is said:

- the local VAD asks the recogniser to finalise early, after ``early_finalize_ms`` of silence
  (``finalize_due``), instead of waiting for the recogniser's own endpointing; it asks again
  after ``end_of_turn_silence_ms``;
- each final (or the recogniser's end of utterance) is judged by its text
  (``aybiza.conversation.turn_completeness``): a finished sentence ends the turn at once; an
  unfinished one ("my number is", "a table for") is held, and the caller's next words join it;
- with an end-of-turn model (``aybiza.providers.turn``), the caller's audio is judged too: at
  ``model_silence_ms`` of quiet (``model_due``) the session runs ``ask_model`` off the event
  loop; a text that reads as finished ends the turn only once the model agrees (its verdict
  usually lands before the recogniser's final, and one later than ``model_wait_ms`` of quiet
  leaves the decision to the text); a model that hears an unfinished voice holds the turn like
  an unfinished text;
- a held turn ends anyway after ``unfinished_wait_ms`` of silence (``overdue``).

Defaults: ``aybiza.agents.defaults``; the early finalise is its own constant here.
"""

from __future__ import annotations

import os
import time
from collections import deque
from typing import Literal

import numpy as np

from aybiza.agents import defaults
from aybiza.audio.codec import DECODE_TABLE, FRAME_MS
from aybiza.conversation.turn_completeness import is_finished
from aybiza.pipeline.plan import CallPlan
from aybiza.pipeline.vad import VadState, VoiceActivityDetector
from aybiza.providers.turn.model import FINISHED_ABOVE, EndOfTurnModel, shared_model

EARLY_FINALIZE_MS = 120
UNFINISHED_WAIT_MS = 1500
# A finished-looking text waits at most this long of quiet for the model's verdict; a slower
# verdict (a machine short of CPU) leaves the decision to the text.
MODEL_WAIT_MS = 200
MODEL_WAIT_ENV = "AYBIZA_TURN_MODEL_WAIT_MS"
# A frame is loud speech above this RMS (int16 scale, about -44 dBFS). The early finalise counts
# quiet from the last loud frame: webrtcvad keeps hearing a voice's fading tail for a while.
LOUD_RMS = 200.0
# Each μ-law code's decoded sample, squared.
_SQUARES = DECODE_TABLE.astype(np.float64) ** 2
# The model hears the caller's last 8 s (400 frames of 20 ms).
MODEL_WINDOW_FRAMES = 8000 // FRAME_MS

Verdict = Literal["pending", "finished", "unfinished"]


def model_wait_ms() -> int:
    """``MODEL_WAIT_MS``, or the process's ``AYBIZA_TURN_MODEL_WAIT_MS`` (ms, >= 0)."""
    raw = os.environ.get(MODEL_WAIT_ENV, "").strip()
    if not raw:
        return MODEL_WAIT_MS
    if not raw.isdigit():
        raise ValueError(f"{MODEL_WAIT_ENV} must be a whole number of ms, got {raw!r}")
    return int(raw)


class TurnDetector:
    """Tracks one call's caller turns. ``on_frame`` per 20 ms frame; ``on_final`` and
    ``on_end_of_speech`` for recogniser events return the finished turn's text when the turn is
    over; ``overdue`` returns a held turn's text once the caller stayed silent too long."""

    def __init__(
        self,
        end_of_turn_silence_ms: int = defaults.END_OF_TURN_SILENCE_MS,
        *,
        early_finalize_ms: int = EARLY_FINALIZE_MS,
        unfinished_wait_ms: int = UNFINISHED_WAIT_MS,
        model: EndOfTurnModel | None = None,
        model_silence_ms: int | None = None,
        model_wait_ms: int = MODEL_WAIT_MS,
    ) -> None:
        self.vad = VoiceActivityDetector(end_silence_ms=end_of_turn_silence_ms)
        self.interim = ""
        self.finalize_due = False
        self.finalize_early = False  # the due finalise is the early one (mid-utterance)
        self._early_finalize_ms = min(early_finalize_ms, end_of_turn_silence_ms)
        self._unfinished_wait_ms = unfinished_wait_ms
        self._segments: list[str] = []
        self._finalize_requested = False
        self._holding = False
        self._last_voiced_at: float | None = None
        self._quiet_ms = 0  # since the last loud frame
        self._early_sent = False  # the early finalise of this stretch of speech was asked for
        self.model = model
        self.model_due = False
        # The model is asked with the early finalise, so its verdict is in before the text.
        self._model_silence_ms = (
            self._early_finalize_ms if model_silence_ms is None else model_silence_ms
        )
        self._audio: deque[bytes] = deque(maxlen=MODEL_WINDOW_FRAMES)
        self._stretch = 0  # counts stretches of loud speech; a verdict belongs to one
        self._model_asked = False
        self._verdict: Verdict | None = None
        self._model_held = False  # the turn is held because the model heard it unfinished
        self._model_wait_ms = model_wait_ms
        self._awaiting_ms: int | None = None  # quiet while a finished text awaits the verdict
        self.model_decisions = 0
        self.verdicts_late = 0

    @classmethod
    def for_plan(cls, plan: CallPlan) -> TurnDetector:
        """The call's detector; with the process's end-of-turn model unless the agent said no."""
        model = shared_model() if plan.end_of_turn_model else None
        return cls(plan.end_of_turn_silence_ms, model=model, model_wait_ms=model_wait_ms())

    @property
    def state(self) -> VadState:
        return self.vad.state

    @property
    def stretch(self) -> int:
        """The number of the caller's current stretch of loud speech (a verdict names one)."""
        return self._stretch

    @property
    def holding(self) -> bool:
        """True while an unfinished-looking turn waits for the caller to go on."""
        return self._holding

    @property
    def speech_end(self) -> float:
        """When the caller was last heard (``time.monotonic()``), for the turn's latency."""
        return self._last_voiced_at or time.monotonic()

    def on_frame(self, frame: bytes) -> VadState:
        """Feed one inbound frame; ``finalize_due`` then says whether to have the recogniser
        finalise now."""
        state = self.vad.feed(frame)
        if state.started:
            self.interim = ""
        if self.model is not None:
            self._audio.append(frame)
        # RMS above LOUD_RMS, as a sum of squares from a table (a quarter of the numpy work).
        energy = float(_SQUARES.take(np.frombuffer(frame, np.uint8)).sum())
        if frame and energy > LOUD_RMS * LOUD_RMS * len(frame):
            if self._quiet_ms:
                self._stretch += 1  # the caller goes on: an earlier verdict no longer holds
                self._model_asked = False
                self._verdict = None
            self._quiet_ms = 0
            self._early_sent = False
            self._last_voiced_at = time.monotonic()
        else:
            self._quiet_ms += FRAME_MS
        early = (
            state.speaking and not self._early_sent and self._quiet_ms >= self._early_finalize_ms
        )
        self._early_sent = self._early_sent or early
        self.finalize_due = early or state.ended
        self.finalize_early = early and not state.ended
        if self.finalize_due:
            self._finalize_requested = True
        self.model_due = (
            self.model is not None
            and state.speaking
            and not self._model_asked
            and self._quiet_ms >= self._model_silence_ms
        )
        if self.model_due:
            self._model_asked = True
            self._verdict = "pending"
        if self._awaiting_ms is not None:
            self._awaiting_ms = 0 if self._quiet_ms == 0 else self._awaiting_ms + FRAME_MS
        return state

    async def ask_model(self) -> str | None:
        """Run the model on the caller's audio so far (on its executor: the event loop goes on);
        the turn's text when the verdict ends a turn whose text was waiting for it."""
        if self.model is None:
            return None
        stretch = self._stretch
        pcm = DECODE_TABLE[np.frombuffer(b"".join(self._audio), np.uint8)]
        try:
            # A decision still queued once the caller went on (or the turn ended) is skipped.
            probability = await self.model.finished_probability(
                pcm, still_wanted=lambda: stretch == self._stretch and self._verdict == "pending"
            )
        except Exception:
            probability = 1.0  # a failing model must not hold turns: text alone decides
        if probability is None:
            return None
        self.model_decisions += 1
        return self.on_verdict(stretch, probability > FINISHED_ABOVE)

    def on_verdict(self, stretch: int, finished: bool) -> str | None:
        """The model's verdict on stretch ``stretch``; ignored once the caller went on."""
        if stretch != self._stretch or self._verdict != "pending":
            return None
        self._verdict = "finished" if finished else "unfinished"
        self._awaiting_ms = None
        if self._segments and not self._holding_for_text():
            return self._judge_with_verdict()
        return None

    def overdue(self) -> str | None:
        """A held turn's text once the caller has been silent ``unfinished_wait_ms``."""
        state = self.vad.state
        if self._holding and not state.speaking and state.silence_ms >= self._unfinished_wait_ms:
            return self._complete()
        if self._awaiting_ms is not None and self._awaiting_ms >= self._model_wait_ms:
            self.verdicts_late += 1
            return self._complete()  # the verdict is late: the text decides
        return None

    def anticipated(self, interim: str) -> str:
        """The turn's text if it ended now: the finals held so far, then ``interim``."""
        return " ".join(part for part in (*self._segments, interim.strip()) if part)

    def on_speech_started(self) -> None:
        self.interim = ""

    def on_interim(self, text: str) -> None:
        self.interim = text

    def on_final(self, text: str, *, speech_final: bool) -> str | None:
        """A final stretch of text; the turn's whole text once the turn is over."""
        if text.strip():
            self._segments.append(text.strip())
        if speech_final or self._finalize_requested or self._holding:
            return self._judge()
        return None

    def on_end_of_speech(self) -> str | None:
        """The recogniser decided the utterance ended without new text."""
        return self._judge()

    def _holding_for_text(self) -> bool:
        return self._holding and not is_finished(" ".join(self._segments))

    def _judge(self) -> str | None:
        self._finalize_requested = False
        if not self._segments:
            return None
        if is_finished(" ".join(self._segments)):
            return self._judge_with_verdict()
        self._holding = True
        return None

    def _judge_with_verdict(self) -> str | None:
        """The text reads as finished: the model (when asked) must agree."""
        verdict = self._verdict
        if verdict is None and self.model is not None and self._quiet_ms < self._model_silence_ms:
            verdict = "pending"  # the caller is still talking: the model hears the next pause
        if verdict in (None, "finished"):
            return self._complete()
        # "pending": held until the verdict; "unfinished": held until the caller goes on or
        # the unfinished wait ends it.
        self._holding = True
        self._model_held = verdict == "unfinished"
        self._awaiting_ms = 0 if verdict == "pending" else None
        return None

    @property
    def model_held(self) -> bool:
        """True while a turn whose text reads as finished is held on the model's verdict."""
        return self._model_held

    def _complete(self) -> str | None:
        text = " ".join(self._segments)
        self._segments.clear()
        self.interim = ""
        self._finalize_requested = False
        self._holding = False
        self._model_held = False
        self._awaiting_ms = None
        self._audio.clear()
        return text or None
