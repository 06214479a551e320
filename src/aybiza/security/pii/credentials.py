"""PINs and passwords said aloud. Nothing in the value itself says it is secret, so both are
found by what comes before it ("my pin is", "the password is") or by the agent's question
("What is your password?"), and a reply that is not an answer ("I forgot it") is left alone."""

from __future__ import annotations

import re
from collections.abc import Iterator

from aybiza.security.pii.scan import PASSWORD_CUE, PIN_CUE, Scan, Span, numbers_of_length

_PASSWORD_INTRO = re.compile(
    r"\b(?:password|passwd|pass word|passphrase|passcode)"
    r"(?:'s|\s+(?:is|was|will be|would be|should be|is going to be)|\s*:|\s*,\s*(?=it))"
    r"\s*,?\s*(?:(?:it's|it is|its)\s+)?",
    re.IGNORECASE,
)
# Where the value said after the intro ends: a full stop, a pause before more words, or the
# next clause ("... and my pin is ...").
_CLAUSE_END = re.compile(
    r"[.;!?](?:\s|$)|,\s|\s+(?:and|but|so|because|please|thanks|thank you|okay|ok|right)\b",
    re.IGNORECASE,
)
# Words that begin a description of a password, not the password ("is the same as ...").
_DESCRIBES = frozenset(
    [
        "not",
        "no",
        "the",
        "a",
        "an",
        "my",
        "your",
        "too",
        "very",
        "really",
        "being",
        "still",
        "supposed",
        "probably",
        "definitely",
        "also",
        "case",
        "that",
        "this",
        "what",
        "something",
        "in",
        "on",
        "at",
        "for",
    ]
)
# Words that, alone or with one more, describe a password ("is wrong", "is not working").
_SHORT_DESCRIPTION = frozenset(
    [
        "wrong",
        "incorrect",
        "correct",
        "right",
        "expired",
        "locked",
        "invalid",
        "working",
        "broken",
        "fine",
        "ok",
        "okay",
        "same",
        "different",
        "changed",
        "reset",
        "weak",
        "strong",
        "long",
        "short",
        "required",
        "needed",
        "missing",
        "blank",
        "empty",
    ]
)
_FILLERS = re.compile(
    r"^(?:\s*(?:yes|yeah|yep|sure|okay|ok|um+|uh+|so|well|alright|right|oh|it's|it is|its|"
    r"that's|that is|that would be|that'd be|my password is|the password is|it should be)\b"
    r"[,.]?)*\s*",
    re.IGNORECASE,
)
# A reply to "What is your password?" that is not one.
_NOT_AN_ANSWER = re.compile(
    r"\b(?:forgot|forget|forgotten|don't|dont|do not|not sure|reset|remember|know|why|can't|"
    r"cannot|hold on|hang on|wait|sorry|what|help|no idea|change|moment|second|minute|lost|"
    r"locked|which|how|where|never|haven't|didn't|did not|isn't|no)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"\S+")
_MOST_WORDS = 8
_MOST_WORDS_UNPROMPTED = 6


def pins(scan: Scan) -> Iterator[Span]:
    """Four to eight digits named as a PIN ("my pin is one two three four") or given when a
    PIN was asked for."""
    for start, end, _digits in numbers_of_length(scan, 4, 8):
        if not scan.is_amount(start, end) and scan.cued(PIN_CUE, start, end, before=40, after=20):
            yield start, end


def passwords(scan: Scan) -> Iterator[Span]:
    """What follows "the password is" up to the end of its clause ("the password is tiger
    lily"), or, after the agent asked for a password, a short reply that is not a refusal."""
    text = scan.text
    found = False
    for intro in _PASSWORD_INTRO.finditer(text):
        span = _value(text, intro.end(), _MOST_WORDS)
        if span is not None:
            found = True
            yield span
    if found or not scan.prompt_has(PASSWORD_CUE) or _PASSWORD_INTRO.search(text):
        return
    if _NOT_AN_ANSWER.search(text):
        return
    start = _FILLERS.match(text)
    span = _value(text, start.end() if start else 0, _MOST_WORDS_UNPROMPTED)
    if span is not None:
        yield span


def _value(text: str, start: int, most_words: int) -> Span | None:
    """The words from ``start`` to the end of the clause, if they can be a password."""
    end_match = _CLAUSE_END.search(text, start)
    end = end_match.start() if end_match else len(text)
    words = list(_WORD.finditer(text, start, end))
    if not words or len(words) > most_words:
        return None
    first_word = words[0].group().lower().strip("\"'")
    if first_word in _DESCRIBES or (first_word in _SHORT_DESCRIPTION and len(words) <= 2):
        return None
    first, last = words[0].start(), words[-1].end()
    # "P@ssw0rd!": an exclamation mark right after the value may be part of it.
    while last < len(text) and text[last] == "!":
        last += 1
    while last > first and text[last - 1] in "\"'":
        last -= 1
    while first < last and text[first] in "\"'":
        first += 1
    return (first, last) if last > first else None
