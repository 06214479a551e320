"""When caller speech during the agent's playout counts as an interruption (barge-in)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_WORD = re.compile(r"[a-z0-9']+(?:-[a-z0-9']+)*")


@dataclass(frozen=True, slots=True)
class InterruptionPolicy:
    """Caller speech interrupts the agent when it lasted at least ``min_speech_ms`` and what was
    recognised is not only backchannel ("uh-huh", "yeah"); while recognition has produced no
    text yet, twice ``min_speech_ms`` of speech is needed. A final transcript that holds real
    words interrupts at once, however short ("no", "stop").
    """

    min_speech_ms: int
    backchannels: frozenset[str]

    @classmethod
    def from_phrases(cls, min_speech_ms: int, phrases: Iterable[str]) -> InterruptionPolicy:
        return cls(min_speech_ms, frozenset(_normalise(p) for p in phrases))

    def is_backchannel(self, text: str) -> bool:
        """True when every word of ``text`` belongs to a backchannel phrase."""
        normalised = _normalise(text)
        if not normalised or normalised in self.backchannels:
            return True
        allowed = {word for phrase in self.backchannels for word in phrase.split()}
        return all(word in allowed for word in normalised.split())

    def interrupts(self, speech_ms: int, text: str) -> bool:
        """Decide on speech still in progress (``text`` is the latest interim, may be empty)."""
        if not text.strip():
            return speech_ms >= 2 * self.min_speech_ms
        return speech_ms >= self.min_speech_ms and not self.is_backchannel(text)

    def final_interrupts(self, text: str) -> bool:
        """Decide on a final transcript that arrived while the agent was speaking."""
        return bool(text.strip()) and not self.is_backchannel(text)


def _normalise(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))
