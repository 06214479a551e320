"""Which model answers a turn: the agent's ``models`` block has ``default``, ``fast`` and
``complex``; a small, documented rule picks one per turn from what the caller said.

The rule, in order:

1. **complex** when the turn needs tools or reasoning: the previous answer asked for a tool (the
   model will act on its result), the caller's words hold a reasoning cue ("why", "explain",
   "compare", "difference", "calculate", "plan", "how does", "how do", "what if"), or the
   utterance is long (more than 25 words).
2. **fast** for short factual turns: at most 8 words and none of the above (greetings,
   confirmations, "what are your hours", keypad input).
3. **default** otherwise.

When the chosen model is throttled, fails before its first token, or is slower than the agent's
``max_response_time``, the next models are tried in the order given by ``fallbacks``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Tier = Literal["default", "fast", "complex"]

_REASONING = re.compile(
    r"\b(why|explain|compare|difference|calculate|plan|how does|how do|what if|pros and cons)\b",
    re.IGNORECASE,
)
LONG_UTTERANCE_WORDS = 25
SHORT_UTTERANCE_WORDS = 8
_FALLBACK_ORDER: dict[Tier, tuple[Tier, ...]] = {
    "complex": ("complex", "default", "fast"),
    "default": ("default", "fast", "complex"),
    "fast": ("fast", "default", "complex"),
}


@dataclass(frozen=True, slots=True)
class ModelChoice:
    """The models to try for a turn, first choice first, and why the first was chosen."""

    tier: Tier
    models: tuple[str, ...]
    reason: str

    @property
    def model(self) -> str:
        return self.models[0]


@dataclass(frozen=True, slots=True)
class ModelRouter:
    default: str
    fast: str
    complex: str

    def choose(self, caller_text: str, *, after_tool_use: bool = False) -> ModelChoice:
        words = len(caller_text.split())
        tier: Tier
        if after_tool_use:
            tier, reason = "complex", "follows a tool call"
        elif cue := _REASONING.search(caller_text):
            tier, reason = "complex", f"reasoning cue {cue.group(0).lower()!r}"
        elif words > LONG_UTTERANCE_WORDS:
            tier, reason = "complex", f"long utterance ({words} words)"
        elif words <= SHORT_UTTERANCE_WORDS:
            tier, reason = "fast", f"short turn ({words} words)"
        else:
            tier, reason = "default", f"ordinary turn ({words} words)"
        by_tier = {"default": self.default, "fast": self.fast, "complex": self.complex}
        models: list[str] = []
        for name in _FALLBACK_ORDER[tier]:
            if by_tier[name] not in models:
                models.append(by_tier[name])
        return ModelChoice(tier=tier, models=tuple(models), reason=reason)

    def after_tool_results(self) -> ModelChoice:
        """The models for the request that follows tool results within a turn: the model acts
        on what the tools returned, so ``complex`` first (rule 1)."""
        return self.choose("", after_tool_use=True)
