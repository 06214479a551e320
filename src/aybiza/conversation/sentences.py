"""Cut a streamed answer into sentences, each sent to speech synthesis as soon as it is whole."""

from __future__ import annotations

import re

# A sentence ends at . ! ? (optionally followed by closing quotes/brackets) and then whitespace.
_BOUNDARY = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)")
_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "approx", "no"}
)


class SentenceChunker:
    """Accumulates text deltas and returns complete sentences as they appear.

    Decimal numbers ("3.5"), common abbreviations ("Dr.") and a boundary at the very end of the
    buffer (the next delta may continue it) never cut a sentence. ``min_chars`` stops tiny
    fragments ("Ok.") from becoming their own synthesis request unless they end the answer.
    """

    def __init__(self, min_chars: int = 12) -> None:
        self._buffer = ""
        self._min_chars = min_chars

    def feed(self, delta: str) -> list[str]:
        self._buffer += delta
        sentences: list[str] = []
        start = 0
        for match in _BOUNDARY.finditer(self._buffer):
            end = match.end()
            candidate = self._buffer[start:end].strip()
            if len(candidate) < self._min_chars or _ends_with_abbreviation(candidate):
                continue
            sentences.append(candidate)
            start = end
        self._buffer = self._buffer[start:]
        return sentences

    def flush(self) -> str | None:
        """Whatever is left at the end of the answer."""
        rest, self._buffer = self._buffer.strip(), ""
        return rest or None


def _ends_with_abbreviation(sentence: str) -> bool:
    last = sentence.rstrip(".!?…\"'”’)]").rsplit(maxsplit=1)[-1].lower()
    return sentence.endswith(".") and last in _ABBREVIATIONS
