"""How the flow engine reads the caller and the tools and fills its text: keypad entries, keyword
branches, tool outcomes, ``{{slot}}`` placeholders and sentence punctuation."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from aybiza.agents.flow_spec import MISSING_TOOL_CODE, PLACEHOLDER, Branch, ToolOutcomeKind
from aybiza.providers.base import Message

# The pipeline forwards keypad presses as user text of this form.
DTMF_MESSAGE = re.compile(r"^DTMF (\S+)$")

_TERMINAL_PUNCTUATION = (".", "!", "?", "…")
_TRAILING_PUNCTUATION = ".,;:!?…"


@dataclass(frozen=True, slots=True)
class CallerInput:
    """One caller turn: what they said, or the keys they pressed (``digits``)."""

    text: str
    digits: str | None = None

    @classmethod
    def from_message_text(cls, text: str) -> CallerInput:
        """Read a user message; ``"DTMF 12#"`` becomes ``digits="12#"``."""
        stripped = " ".join(text.split())
        dtmf = DTMF_MESSAGE.match(stripped)
        if dtmf is not None:
            return cls(text=stripped, digits=dtmf.group(1))
        return cls(text=stripped)

    @property
    def is_empty(self) -> bool:
        """True when the caller said nothing usable (silence, noise, an empty transcript)."""
        return not self.text

    @property
    def capture_value(self) -> str:
        """What a capturing listen node stores: the digits, or the words without the final
        punctuation a recogniser adds (so "Tomorrow morning." reads well inside a sentence)."""
        if self.digits is not None:
            return self.digits
        return self.text.rstrip(_TRAILING_PUNCTUATION).strip()


@lru_cache(maxsize=1024)
def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    # Whole words only, any run of whitespace between a phrase's words.
    words = r"\s+".join(re.escape(word) for word in keyword.split())
    return re.compile(rf"(?<!\w){words}(?!\w)", re.IGNORECASE)


def keyword_hits(keywords: Sequence[str], text: str) -> int:
    """How many of ``keywords`` occur in ``text`` as whole words (case-insensitive)."""
    return sum(1 for keyword in keywords if _keyword_pattern(keyword).search(text))


def match_branch(branches: Sequence[Branch], caller: CallerInput) -> Branch | None:
    """The branch the caller picked, or ``None``.

    Keypad entries pick the first branch listing them. Speech picks the branch with the most
    keyword hits (earlier branch on a tie). Failing both, the first catch-all branch takes any
    non-empty input.
    """
    if caller.is_empty:
        return None
    if caller.digits is not None:
        for branch in branches:
            if caller.digits in branch.digits:
                return branch
    else:
        best: Branch | None = None
        best_hits = 0
        for branch in branches:
            hits = keyword_hits(branch.keywords, caller.text)
            if hits > best_hits:
                best, best_hits = branch, hits
        if best is not None:
            return best
    return next((branch for branch in branches if branch.is_catch_all), None)


def tool_outcome(tool_call_id: str, messages: Sequence[Message]) -> ToolOutcomeKind:
    """How the tool call ``tool_call_id`` ended, read from its result in ``messages``.

    An error result marked with ``MISSING_TOOL_CODE`` is a missing tool. No result at all (the
    caller interrupted before it came back, or nothing ran the tool) counts as an error: a flow
    must never confirm what it does not know was done.
    """
    for message in reversed(messages):
        for result in message.tool_results:
            if result.tool_call_id != tool_call_id:
                continue
            if not result.is_error:
                return "ok"
            return "missing" if result.content.get("code") == MISSING_TOOL_CODE else "error"
    return "error"


def fill_slots(template: str, slots: Mapping[str, str]) -> str:
    """Replace ``{{slot}}`` placeholders; a slot not captured yet becomes empty."""
    return PLACEHOLDER.sub(lambda match: slots.get(match.group(1), ""), template)


def fill_arguments(value: Any, slots: Mapping[str, str]) -> Any:
    """Fill placeholders in every string inside a tool's JSON-like arguments."""
    if isinstance(value, str):
        return fill_slots(value, slots)
    if isinstance(value, dict):
        return {key: fill_arguments(item, slots) for key, item in value.items()}
    if isinstance(value, list):
        return [fill_arguments(item, slots) for item in value]
    return value


def as_sentences(text: str) -> str:
    """Collapse whitespace and make sure the text ends like a sentence, so the downstream
    sentence chunker can cut it and the synthesiser gives it a falling intonation."""
    text = " ".join(text.split())
    if not text or text.endswith(_TERMINAL_PUNCTUATION):
        return text
    return text.rstrip(",;:") + "."
