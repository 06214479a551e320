"""Voice-to-voice latency as the caller experiences it.

Each thing the caller does that expects an answer (an utterance, a key press) is a ``CallerTurn``
that starts counting when the caller stops; the first agent audio that arrives after it answers
it. The greeting is timed from the ``start`` message. Audio that arrives while the caller is still
speaking answers nothing: it is the tail of an earlier answer or the agent talking over the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

CallerAction = Literal["speech", "dtmf"]


@dataclass(slots=True)
class CallerTurn:
    """One caller action and when the agent's answer reached the caller's side of the socket."""

    kind: CallerAction
    # When the caller stopped (last voiced frame or DTMF message sent), monotonic seconds.
    ended_at: float
    answered_at: float | None = None

    @property
    def latency_s(self) -> float | None:
        """Seconds from the end of the caller's action to the first agent audio, if answered."""
        return None if self.answered_at is None else self.answered_at - self.ended_at


class LatencyClock:
    """Attributes each first agent audio to the greeting or to the caller's latest action."""

    def __init__(self) -> None:
        self.started_at: float | None = None
        self.greeting_answered_at: float | None = None
        self.turns: list[CallerTurn] = []
        self._speaking = 0  # utterances queued whose speech has not ended yet

    def stream_started(self, at: float) -> None:
        """The ``start`` message was sent: the greeting's latency counts from here."""
        self.started_at = at

    def caller_started(self) -> None:
        """An utterance was queued: agent audio is no answer until its speech has ended."""
        self._speaking += 1

    def caller_stopped(self, kind: CallerAction, at: float) -> None:
        """The caller finished an utterance (its last voiced frame) or pressed a key at ``at``."""
        if kind == "speech":
            self._speaking = max(0, self._speaking - 1)
        self.turns.append(CallerTurn(kind, at))

    def agent_audio(self, at: float) -> None:
        """Agent audio arrived at ``at``: record it if it is the first answer to anything."""
        if self._speaking:
            return
        if self.turns:
            if self.turns[-1].answered_at is None:
                self.turns[-1].answered_at = at
        elif self.started_at is not None and self.greeting_answered_at is None:
            self.greeting_answered_at = at

    @property
    def greeting_latency_s(self) -> float | None:
        """Seconds from ``start`` to the first agent audio, when that came before the caller
        did anything."""
        if self.started_at is None or self.greeting_answered_at is None:
            return None
        return self.greeting_answered_at - self.started_at

    def current_answer(self) -> float | None:
        """Latency of the answer to the latest caller action (or of the greeting, before any),
        or None while it has not arrived or the caller is still speaking."""
        if self._speaking:
            return None
        if self.turns:
            return self.turns[-1].latency_s
        return self.greeting_latency_s
