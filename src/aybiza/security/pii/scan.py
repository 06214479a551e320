"""One utterance being scanned: its normalised text, the agent's line it answers, and the cues
(the words that say what a number is) the detectors look for around a candidate."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from aybiza.security.pii.spoken import Normalised, normalise

Span = tuple[int, int]


def _cue(pattern: str) -> re.Pattern[str]:
    return re.compile(rf"\b(?:{pattern})\b", re.IGNORECASE)


# What a caller (or the agent's question) says before or after the value.
EXPIRY_CUE = _cue(
    r"expir\w*|exp|valid (?:thru|through|until)|good (?:thru|through|until)|expiry date"
)
CVV_CUE = _cue(
    r"cvv2?|cvc2?|cid|c v v|c v c|security (?:code|number|digits)|(?:three|four|3|4)[- ]digit "
    r"(?:code|number)|(?:code|digits|numbers) on the back|back of (?:the|your) card|"
    r"verification (?:code|number|value)|card code"
)
SSN_CUE = _cue(r"ssn|s s n|s\.s\.n|social security|social")
SSN_LAST_FOUR = re.compile(
    r"\blast (?:four|4)(?: digits)?(?: of)?(?: (?:my|the|your))? (?:social|ssn|s s n)",
    re.IGNORECASE,
)
PHONE_CUE = _cue(
    r"phone|cell|cellphone|mobile|telephone|call me|call back|callback|reach me|text me|"
    r"my number|contact number|landline|fax|number to call"
)
# A number named as something else right before it is not a phone number.
NAMED_NUMBER = re.compile(
    r"\b(?:order|confirmation|reference|ref|tracking|invoice|ticket|case|policy|member(?:ship)?|"
    r"account|acct|routing|card|serial|claim|booking|reservation|transaction|model|part|"
    r"customer|employee|license|id)(?:\s*(?:number|no\.?|num|#|id|code))?\s*(?:is|was|'s|:)?\s*"
    r"(?:it's|its|it is)?\s*$",
    re.IGNORECASE,
)
NAMED_NUMBER_PROMPT = _cue(
    r"order|confirmation|reference|tracking|invoice|ticket|case|policy|member(?:ship)?|account|"
    r"routing|serial|claim|booking|reservation|transaction|customer|employee|license"
)
BANK_CUE = _cue(r"bank|banking|checking|savings|account|acct|routing|aba|sort code|iban")
DOB_CUE = _cue(r"date of birth|birth ?date|birthday|born|d\.?o\.?b|d o b")
EMAIL_CUE = _cue(r"e-?mail|email address|e mail")
PIN_CUE = _cue(r"pin|p i n|passcode|pin code|pin number")
PASSWORD_CUE = _cue(r"password|passwd|pass word|passphrase|passcode")

# A number with separators a person writes or a recogniser punctuates: "4111 1111",
# "555-0132", "555, 1234" (a pause), "3.50".
NUMBER = re.compile(r"(?<!\w)\d+(?:(?:[ \-.]|, ?)\d+)*(?!\w)")
DIGITS = re.compile(r"\d+")
# Money is not an account number, a PIN or a security code: "$120,000", "150000 dollars".
_CURRENCY_BEFORE = re.compile(r"[$€£]\s?$")
_CURRENCY_AFTER = re.compile(
    r"\s?(?:dollars?|bucks|euros?|pounds?|cents?|percent|%|usd|eur|gbp)\b", re.IGNORECASE
)
# A time of day is not a card's expiry: "at 12 30", "12 30 tonight".
_TIME_BEFORE = re.compile(r"\bat\s+$", re.IGNORECASE)
_TIME_AFTER = re.compile(
    r"\s?(?:am|pm|a\.m|p\.m|o'clock|tonight|today|tomorrow|this (?:morning|afternoon|evening))\b",
    re.IGNORECASE,
)
_NON_DIGITS = re.compile(r"\D")


def compact(text: str) -> str:
    """Only the digits of ``text``."""
    return _NON_DIGITS.sub("", text)


class Scan:
    """The utterance (``text``, number words as digits) and the agent line before it
    (``prompt``); cues found in the prompt are looked up once."""

    __slots__ = ("_numbers", "_prompt_cues", "claimed", "normalised", "prompt", "region", "text")

    def __init__(self, text: str, prompt: str = "", region: str = "US") -> None:
        self.normalised: Normalised = normalise(text)
        self.text = self.normalised.text
        self.prompt = prompt
        self.region = region
        self._prompt_cues: dict[re.Pattern[str], bool] = {}
        self._numbers: list[tuple[int, int, str]] | None = None
        # Spans already found by a category that wins over the one scanning now.
        self.claimed: list[Span] = []

    def is_claimed(self, start: int, end: int) -> bool:
        """Whether ``text[start:end]`` lies within one finding already made (so a costlier
        check need not run on it)."""
        return any(first <= start and end <= last for first, last in self.claimed)

    def prompt_has(self, cue: re.Pattern[str]) -> bool:
        """Whether the agent's line before this one says ``cue`` ("What is your PIN?")."""
        known = self._prompt_cues.get(cue)
        if known is None:
            known = self._prompt_cues[cue] = bool(self.prompt) and bool(cue.search(self.prompt))
        return known

    def said_near(
        self, cue: re.Pattern[str], start: int, end: int, before: int, after: int
    ) -> bool:
        """``cue`` within ``before`` characters before ``start`` or ``after`` after ``end``."""
        if cue.search(self.text, max(0, start - before), start):
            return True
        return after > 0 and bool(cue.search(self.text, end, end + after))

    def cued(
        self, cue: re.Pattern[str], start: int, end: int, before: int = 60, after: int = 0
    ) -> bool:
        """``cue`` near the candidate or in the agent's question."""
        return self.said_near(cue, start, end, before, after) or self.prompt_has(cue)

    def is_amount(self, start: int, end: int) -> bool:
        """Whether ``text[start:end]`` is a sum of money."""
        return bool(
            _CURRENCY_BEFORE.search(self.text, max(0, start - 2), start)
            or _CURRENCY_AFTER.match(self.text, end)
        )

    def is_time(self, start: int, end: int) -> bool:
        """Whether ``text[start:end]`` is a time of day ("at 12 30", "12 30 pm")."""
        return bool(
            _TIME_BEFORE.search(self.text, max(0, start - 4), start)
            or _TIME_AFTER.match(self.text, end)
        )

    def numbers(self) -> list[tuple[int, int, str]]:
        """Every number in the text as (start, end, its digits), computed once per scan."""
        if self._numbers is None:
            self._numbers = [
                (m.start(), m.end(), compact(m.group())) for m in NUMBER.finditer(self.text)
            ]
        return self._numbers


def best_window(
    text: str,
    start: int,
    end: int,
    accept: Callable[[str], bool],
    most_digits: int,
    most_groups: int = 8,
) -> Span | None:
    """The longest run of whole digit groups within ``text[start:end]`` whose digits
    ``accept`` takes: a card number followed by its expiry ("4111 1111 1111 1111 12 25") is
    found without the expiry. Digits written one by one ("4 1 5 5 5 ...", more than
    ``most_groups`` groups) are taken whole."""
    groups = [(m.start(), m.end(), m.group()) for m in DIGITS.finditer(text, start, end)]
    if len(groups) > most_groups:
        digits = "".join(group[2] for group in groups)
        return (groups[0][0], groups[-1][1]) if accept(digits) else None
    best: Span | None = None
    for first in range(len(groups)):
        digits = ""
        for last in range(first, len(groups)):
            digits += groups[last][2]
            if len(digits) > most_digits:
                break
            if accept(digits):
                span = (groups[first][0], groups[last][1])
                if best is None or span[1] - span[0] > best[1] - best[0]:
                    best = span
    return best


def numbers_of_length(scan: Scan, shortest: int, longest: int) -> Iterator[tuple[int, int, str]]:
    """The scan's numbers with ``shortest`` to ``longest`` digits."""
    for start, end, digits in scan.numbers():
        if shortest <= len(digits) <= longest:
            yield start, end, digits
