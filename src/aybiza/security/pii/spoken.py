"""Number words as a speech recogniser writes them, turned into digits, with a map back to the
words they came from.

Callers say numbers in pieces: "four one one one", "oh" for zero, "double five", "forty one
eleven", "nineteen eighty", "fifteen hundred", "two thousand and five", "March fourth". The
detectors read digits, so ``normalise`` rewrites each run of number words as the digits a person
would write ("4111", "0", "55", "4111", "1980", "1500", "2005", "4th") and keeps, for every
rewritten piece, the span of the words it replaced: a finding in the normalised text is mapped
back with ``Normalised.original_span`` and redacts exactly the words that were said.

Words in one run are separated only by spaces or a hyphen; a comma (a pause, as recognisers
punctuate it) starts a new run and is kept, so "five five five, one two three four" reads
"555, 1234". "oh" and "o" count as zero except alone ("oh" alone is an interjection), and
"double"/"triple" only before a digit.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

_UNITS = {
    "zero": 0,
    "nought": 0,
    "naught": 0,
    "oh": 0,
    "o": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
}
_INTERJECTIONS = frozenset({"oh", "o"})
_TEENS = {
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_ORDINALS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
    "eleventh": 11,
    "twelfth": 12,
    "thirteenth": 13,
    "fourteenth": 14,
    "fifteenth": 15,
    "sixteenth": 16,
    "seventeenth": 17,
    "eighteenth": 18,
    "nineteenth": 19,
    "twentieth": 20,
    "thirtieth": 30,
}
_REPEATS = {"double": 2, "triple": 3}
_SCALES = {"hundred": 100, "thousand": 1000}

UNIT, TEEN, TENS, ORDINAL, REPEAT, SCALE, AND = range(7)
_KINDS: dict[str, tuple[int, int]] = {
    **{word: (UNIT, value) for word, value in _UNITS.items()},
    **{word: (TEEN, value) for word, value in _TEENS.items()},
    **{word: (TENS, value) for word, value in _TENS.items()},
    **{word: (ORDINAL, value) for word, value in _ORDINALS.items()},
    **{word: (REPEAT, value) for word, value in _REPEATS.items()},
    **{word: (SCALE, value) for word, value in _SCALES.items()},
    "and": (AND, 0),
}
# Longest first so "fourteen" is not read as "four"; "o" not in "o'clock".
_WORDS = sorted((word for word in _KINDS if word != "o"), key=len, reverse=True)
_TOKEN = re.compile(r"\b(?:" + "|".join(_WORDS) + r"|o(?!['’]))\b", re.IGNORECASE)
_SAME_RUN = re.compile(r"\s+|\s*-\s*")


@dataclass(frozen=True, slots=True)
class _Token:
    kind: int
    value: int
    start: int
    end: int
    word: str


@dataclass(frozen=True, slots=True)
class _Segment:
    """A stretch of the normalised text and the stretch of the original it stands for;
    ``identity`` when it was copied unchanged (offsets then map one to one)."""

    norm_start: int
    norm_end: int
    orig_start: int
    orig_end: int
    identity: bool


class Normalised:
    """The text with number words as digits, and the way back to the original offsets."""

    __slots__ = ("_segments", "_starts", "original", "text")

    def __init__(self, original: str, text: str, segments: list[_Segment] | None) -> None:
        self.original = original
        self.text = text
        self._segments = segments
        self._starts = [s.norm_start for s in segments] if segments else []

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The original offsets of the normalised ``text[start:end]``: a rewritten piece maps
        to all of the words it came from."""
        segments = self._segments
        if segments is None or end <= start:
            return start, end
        first = segments[bisect_right(self._starts, start) - 1]
        last = segments[bisect_right(self._starts, end - 1) - 1]
        orig_start = (
            first.orig_start + (start - first.norm_start) if first.identity else first.orig_start
        )
        orig_end = last.orig_start + (end - last.norm_start) if last.identity else last.orig_end
        return orig_start, orig_end


def normalise(text: str) -> Normalised:
    """``text`` with every run of number words rewritten as digits (see the module doc)."""
    tokens = [
        _Token(*_KINDS[match.group().lower()], match.start(), match.end(), match.group().lower())
        for match in _TOKEN.finditer(text)
    ]
    if not tokens:
        return Normalised(text, text, None)
    pieces: list[str] = []
    segments: list[_Segment] = []
    cursor = 0
    length = 0
    for run in _runs(text, tokens):
        if run[0].start > cursor:
            length = _copy(text, cursor, run[0].start, pieces, segments, length)
        for digits, orig_start, orig_end in _phrases(run):
            pieces.append(digits)
            segments.append(
                _Segment(length, length + len(digits), orig_start, orig_end, identity=False)
            )
            length += len(digits)
        cursor = run[-1].end
    if cursor == 0 and not segments:
        return Normalised(text, text, None)
    _copy(text, cursor, len(text), pieces, segments, length)
    return Normalised(text, "".join(pieces), segments)


def _copy(
    text: str, start: int, end: int, pieces: list[str], segments: list[_Segment], length: int
) -> int:
    if end > start:
        pieces.append(text[start:end])
        segments.append(_Segment(length, length + end - start, start, end, identity=True))
    return length + end - start


def _runs(text: str, tokens: list[_Token]) -> list[list[_Token]]:
    """Number words that follow one another with only spaces or a hyphen between them, with
    "and" kept only inside a number ("two hundred and five"), "double"/"triple" only before a
    digit, and runs of nothing but "oh" dropped."""
    runs: list[list[_Token]] = []
    current: list[_Token] = []
    for index, token in enumerate(tokens):
        joined = bool(current) and _SAME_RUN.fullmatch(text[current[-1].end : token.start])
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        next_kind = (
            following.kind
            if following is not None and _SAME_RUN.fullmatch(text[token.end : following.start])
            else None
        )
        if token.kind == AND:
            keep = bool(joined) and current[-1].kind == SCALE and next_kind in (UNIT, TEEN, TENS)
        else:
            keep = token.kind != REPEAT or next_kind == UNIT
        if not keep or not joined:
            _close(current, runs)
            current = []
        if keep:
            current.append(token)
    _close(current, runs)
    return runs


def _close(run: list[_Token], runs: list[list[_Token]]) -> None:
    # A lone "oh" is an interjection; "oh oh oh" in a number read aloud is "000".
    if len(run) > 1 or (run and run[0].word not in _INTERJECTIONS):
        runs.append(run)


def _phrases(run: list[_Token]) -> list[tuple[str, int, int]]:
    """The digits of each number said in the run, with the span of its words; numbers are
    written one after another ("nineteen eighty" -> "19" "80"), an ordinal set apart by a
    space ("fourth nineteen eighty" -> "4th" " " "1980")."""
    out: list[tuple[str, int, int]] = []
    index = 0
    after_ordinal = False
    while index < len(run):
        token = run[index]
        starts_ordinal = token.kind == ORDINAL or _ordinal_compound(run, index)
        if out and (after_ordinal or starts_ordinal):
            out.append((" ", out[-1][2], token.start))
        after_ordinal = False
        if token.kind == REPEAT:
            digit = run[index + 1]
            out.append((str(digit.value) * token.value, token.start, digit.end))
            index += 2
            continue
        if token.kind == ORDINAL:
            out.append((_ordinal(token.value), token.start, token.end))
            after_ordinal = True
            index += 1
            continue
        value, next_index, ordinal = _cardinal(run, index, compound_ordinal=not out)
        if next_index == index:  # a scale word with no number before it ("hundred")
            out.append((str(token.value), token.start, token.end))
            index += 1
            continue
        end = run[next_index - 1].end
        out.append((_ordinal(value) if ordinal else _digits(run, index, value), token.start, end))
        after_ordinal = ordinal
        index = next_index
    return out


def _digits(run: list[_Token], index: int, value: int) -> str:
    # "zero"/"oh" is the digit 0 however it is said; other values are their decimal digits.
    return "0" if run[index].kind == UNIT and run[index].value == 0 else str(value)


def _ordinal_compound(run: list[_Token], index: int) -> bool:
    """ "twenty first" at the start of a run is one ordinal; after other numbers ("three fifty
    fifth avenue") the tens belong to the number before and the ordinal stands alone."""
    return (
        index == 0
        and run[index].kind == TENS
        and index + 1 < len(run)
        and run[index + 1].kind == ORDINAL
        and run[index + 1].value < 10
    )


def _cardinal(
    run: list[_Token], index: int, *, compound_ordinal: bool = True
) -> tuple[int, int, bool]:
    """The number starting at ``run[index]``: (value, index after it, ends in an ordinal)."""
    token = run[index]
    if token.kind not in (UNIT, TEEN, TENS):
        return 0, index, False
    value, position = token.value, index + 1
    if token.kind == UNIT and value == 0:
        return 0, position, False
    if token.kind == TENS and position < len(run):
        following = run[position]
        if following.kind == UNIT and following.value > 0:
            value, position = value + following.value, position + 1
        elif following.kind == ORDINAL and following.value < 10 and compound_ordinal:
            return value + following.value, position + 1, True
    for scale in (100, 1000):
        if position < len(run) and run[position].kind == SCALE and run[position].value == scale:
            if value >= scale:
                break
            value, position = value * scale, position + 1
            rest, position, ordinal = _below(run, position, scale)
            value += rest
            if ordinal:
                return value, position, True
    return value, position, False


def _below(run: list[_Token], position: int, limit: int) -> tuple[int, int, bool]:
    """After "hundred"/"thousand": an optional "and" and a number below ``limit``."""
    start = position
    if position < len(run) and run[position].kind == AND:
        position += 1
    if position >= len(run) or run[position].kind not in (UNIT, TEEN, TENS, ORDINAL):
        return 0, start, False
    if run[position].kind == ORDINAL:
        return run[position].value, position + 1, True
    if run[position].kind == UNIT and run[position].value == 0:
        return 0, start, False
    # "eight hundred five five five ...": digits read one by one after the hundred.
    if (
        run[position].kind == UNIT
        and position + 1 < len(run)
        and run[position + 1].kind in (UNIT, REPEAT)
    ):
        return 0, start, False
    value, after, ordinal = _cardinal(run, position)
    if value >= limit:
        return 0, start, False
    return value, after, ordinal


def _ordinal(value: int) -> str:
    teen = 10 <= value % 100 <= 20
    return f"{value}{'th' if teen else {1: 'st', 2: 'nd', 3: 'rd'}.get(value % 10, 'th')}"
