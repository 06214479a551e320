"""The caller's sentiment over a whole call, by a small lexicon read one utterance at a time.

Each caller line scores positive words minus negative words. A negator (``not``, ``never``,
``n't``...) flips a sentiment word up to three words after it, within the clause; ``no`` flips
only the word right after it ("no problem", "no good"). Thanks are never flipped, so "No, thank
you" is a polite refusal, not a negative line. Fixed phrases ("thanks for nothing", "waste of
time") count as one negative word.

Each line then votes once, however wordy: +1 when its words score above zero, or score zero and
it thanks the agent; -1 when they score below zero; else 0. Thanks do not outvote a negative
word in the same line. The call's sentiment is the sum of the votes: > 0 positive, < 0 negative,
0 neutral (nothing said either way, or a mixed call), so one line cannot outweigh the rest.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

POSITIVE = frozenset(
    (
        "great",
        "good",
        "perfect",
        "excellent",
        "wonderful",
        "awesome",
        "happy",
        "glad",
        "love",
        "lovely",
        "helpful",
        "appreciate",
        "nice",
        "amazing",
        "fantastic",
        "brilliant",
        "pleased",
    )
)
NEGATIVE = frozenset(
    (
        "bad",
        "terrible",
        "awful",
        "angry",
        "annoyed",
        "annoying",
        "frustrated",
        "frustrating",
        "upset",
        "hate",
        "horrible",
        "useless",
        "ridiculous",
        "unacceptable",
        "disappointed",
        "disappointing",
        "worst",
        "poor",
        "complaint",
        "wrong",
        "problem",
        "broken",
        "waiting",
        "rude",
        "hopeless",
        "pointless",
    )
)
GRATITUDE = frozenset({"thank", "thanks", "cheers"})
NEGATIVE_PHRASES = ("thanks for nothing", "thank you for nothing", "waste of time", "fed up")
_NEGATORS = frozenset(
    {
        "not",
        "never",
        "don't",
        "didn't",
        "doesn't",
        "isn't",
        "wasn't",
        "aren't",
        "weren't",
        "can't",
        "cannot",
        "couldn't",
        "won't",
        "wouldn't",
        "haven't",
        "hardly",
    }
)
_NEGATION_SCOPE = 3
# Words and clause breaks: a comma or full stop ends a negator's reach.
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|[.,;:!?]")
_CLAUSE_BREAK = frozenset(".,;:!?")

SENTIMENTS = ("positive", "neutral", "negative")


@dataclass(frozen=True, slots=True)
class LineScore:
    """One utterance: its sentiment words (positive minus negative) and whether it thanked."""

    score: int
    thanked: bool

    @property
    def sign(self) -> int:
        """The sentiment words' sign alone: -1, 0 or +1."""
        return (self.score > 0) - (self.score < 0)

    @property
    def vote(self) -> int:
        """The line's vote on the call: its sign, or +1 for a line that only thanks."""
        return self.sign if self.score else int(self.thanked)


def score_line(text: str) -> LineScore:
    """Score one caller utterance by the rules in the module docstring."""
    lowered = " ".join(text.lower().replace("\u2019", "'").split())
    score = 0
    for phrase in NEGATIVE_PHRASES:
        # Taken out of the text (a clause break in its place) so its words do not count again.
        lowered, hits = re.subn(rf"(?<!\w){re.escape(phrase)}(?!\w)", " . ", lowered)
        score -= hits
    tokens = _TOKEN.findall(lowered)
    thanked = False
    for index, token in enumerate(tokens):
        if token in GRATITUDE:
            thanked = True
            continue
        weight = 1 if token in POSITIVE else -1 if token in NEGATIVE else 0
        if weight and _negated(tokens, index):
            weight = -weight
        score += weight
    return LineScore(score, thanked)


def _negated(tokens: Sequence[str], index: int) -> bool:
    """Whether a negator governs ``tokens[index]``: one of the few words before it in the
    same clause, or ``no`` right before it."""
    if index > 0 and tokens[index - 1] == "no":
        return True
    for back in range(1, _NEGATION_SCOPE + 1):
        if index - back < 0 or tokens[index - back] in _CLAUSE_BREAK:
            return False
        if tokens[index - back] in _NEGATORS:
            return True
    return False


def caller_sentiment(lines: Sequence[str]) -> str:
    """``positive``, ``neutral`` or ``negative`` for the caller's lines of a whole call."""
    total = sum(score_line(line).vote for line in lines)
    return "positive" if total > 0 else "negative" if total < 0 else "neutral"
