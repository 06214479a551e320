"""``InterruptionPolicy``: when caller speech during the agent's playout stops the agent."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from aybiza.agents import defaults

_WORD = re.compile(r"[a-z0-9']+(?:-[a-z0-9']+)*")


@dataclass(frozen=True, slots=True)
class InterruptionPolicy:
    """Caller speech interrupts the agent when it was voiced for at least ``min_voice_ms`` and
    what was recognised holds at least ``min_words`` words that are not backchannel ("uh-huh",
    "yeah"); while recognition has produced no text yet, twice ``min_voice_ms`` of speech is
    needed. A final transcript with ``min_words`` real words interrupts at once, however short
    ("no", "stop"). Defaults: ``aybiza.agents.defaults``.
    """

    min_voice_ms: int = defaults.MIN_VOICE_MS
    backchannels: frozenset[str] = frozenset(defaults.BACKCHANNEL_PHRASES)
    min_words: int = defaults.MIN_WORDS

    @classmethod
    def from_phrases(
        cls, min_voice_ms: int, phrases: Iterable[str], min_words: int = defaults.MIN_WORDS
    ) -> InterruptionPolicy:
        return cls(min_voice_ms, frozenset(_normalise(p) for p in phrases), min_words)

    def is_backchannel(self, text: str) -> bool:
        """True when every word of ``text`` belongs to a backchannel phrase."""
        normalised = _normalise(text)
        if not normalised or normalised in self.backchannels:
            return True
        return not self._real_words(normalised)

    def interrupts(self, voiced_ms: int, text: str) -> bool:
        """Decide on speech still in progress (``text`` is the latest interim, may be empty)."""
        if not text.strip():
            return voiced_ms >= 2 * self.min_voice_ms
        return voiced_ms >= self.min_voice_ms and self._enough_words(text)

    def final_interrupts(self, text: str) -> bool:
        """Decide on a final transcript that arrived while the agent was speaking."""
        return bool(text.strip()) and self._enough_words(text)

    def _enough_words(self, text: str) -> bool:
        normalised = _normalise(text)
        if normalised in self.backchannels:
            return False
        return len(self._real_words(normalised)) >= self.min_words

    def _real_words(self, normalised: str) -> list[str]:
        allowed = {word for phrase in self.backchannels for word in phrase.split()}
        return [word for word in normalised.split() if word not in allowed]


def _normalise(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))
