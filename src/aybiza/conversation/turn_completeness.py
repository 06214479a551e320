"""Whether a caller's words read as a finished turn: text completeness for ``TurnDetector``.

A pause after "my number is" or "I'd like to book a table for" is a breath, not the end of a
turn; answering it cuts the caller off. The rule reads the end of the transcript: a last word
that needs a continuation (an article, a preposition, a conjunction, a possessive, a copula or
auxiliary, a filler like "um"), or a phone number still short of its digits, is unfinished.
Everything else is taken as finished: an unfinished-looking turn costs the caller a longer
wait (``TurnDetector.unfinished_wait_ms``), a wrong "finished" costs a cut-off sentence.

The rule reads words only: "I want to cancel ... my subscription" reads as finished at the
pause. ``TurnDetector`` pairs it with an end-of-turn model that hears the voice
(``aybiza.providers.turn``): a turn ends when the text reads finished and the model agrees.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9']+")

# Words after which an English sentence cannot end.
CONTINUATION_WORDS = frozenset(
    {
        # articles, determiners, possessives
        *("a", "an", "the", "my", "your", "our", "his", "their", "its", "every", "each"),
        # prepositions (not "before"/"after", which end sentences too)
        *("to", "of", "for", "with", "at", "in", "on", "from", "by", "about", "into", "onto"),
        *("than", "like", "as", "until", "between", "through", "per"),
        # conjunctions and subordinators
        *("and", "or", "but", "because", "if", "while", "although", "unless", "whether"),
        # copulas and pronoun contractions that need what follows
        *("is", "are", "was", "were", "am", "i'm", "it's", "there's", "i've", "i'd", "i'll"),
        *("we're", "you're", "i", "we", "they"),
        # fillers
        *("um", "uh", "er", "erm", "basically"),
    }
)
# Two-word endings that need a clause after them ("the problem is that ...").
CONTINUATION_PAIRS = frozenset({("is", "that"), ("was", "that"), ("so", "that"), ("such", "as")})
# Words that say the caller is giving a phone number.
_PHONE_WORDS = frozenset({"number", "phone", "cell", "mobile", "callback"})
_DIGIT_WORDS = {
    **{str(d): 1 for d in range(10)},
    **dict.fromkeys(
        ("zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"), 1
    ),
}
# A phone number has at least this many digits (a local number in North America).
MIN_PHONE_DIGITS = 7


def is_finished(text: str) -> bool:
    """True when ``text`` reads as a complete turn (see the module's rule)."""
    words = _WORD.findall(text.lower().replace("’", "'"))
    if not words:
        return False
    if text.rstrip().endswith(("...", "…", ",", "-")):
        return False
    if words[-1] in CONTINUATION_WORDS or tuple(words[-2:]) in CONTINUATION_PAIRS:
        return False
    return not _phone_number_unfinished(words)


def _phone_number_unfinished(words: list[str]) -> bool:
    """The caller announced a phone number and has given fewer than ``MIN_PHONE_DIGITS`` of it
    (counting the digits after the last phone word, "555" as three)."""
    last_phone = max((i for i, w in enumerate(words) if w in _PHONE_WORDS), default=-1)
    if last_phone < 0:
        return False
    digits = 0
    for word in words[last_phone + 1 :]:
        if word.isdigit():
            digits += len(word)
        else:
            digits += _DIGIT_WORDS.get(word, 0)
    return 0 < digits < MIN_PHONE_DIGITS or (digits == 0 and words[-1] in {"is", "number"})
