"""Payment cards: the number (Luhn-checked, with an issuer's first digit), its expiry and its
security code. Expiry and CVV are short numbers that are only what they are when the caller, or
the agent's question, says so ("expires", "security code")."""

from __future__ import annotations

import re
from collections.abc import Iterator

from stdnum import luhn

from aybiza.security.pii.scan import (
    CVV_CUE,
    EXPIRY_CUE,
    Scan,
    Span,
    best_window,
    numbers_of_length,
)

# Card networks issue numbers starting 2 (Mastercard 2-series), 3 (Amex, Diners, JCB),
# 4 (Visa), 5 (Mastercard) and 6 (Discover, UnionPay): a Luhn-valid number starting
# otherwise (order and tracking numbers) is not a card.
_ISSUER_DIGITS = frozenset("23456")
_MONTH_NAME = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_MONTH = r"(?:0?[1-9]|1[0-2])"
_YEAR = r"(?:20\d{2}|\d{2})"
_EXPIRY = re.compile(
    rf"(?<![\w/]){_MONTH}(?: ?/ ?| ?- ?| slash | of |, ?| ){_YEAR}(?![\w/])"
    rf"|(?<![\w/])(?:0[1-9]|1[0-2])\d{{2}}(?![\w/])"
    rf"|\b{_MONTH_NAME},?(?: of)? {_YEAR}(?![\w/])"
    rf"|(?<![\w/]){_MONTH}(?:st|nd|rd|th) of {_YEAR}(?![\w/])"
    r"|(?<![\w/])20\d{2}[-/](?:0[1-9]|1[0-2])(?![\w/])",
    re.IGNORECASE,
)


def is_card_number(digits: str) -> bool:
    """13 to 19 digits, an issuer's first digit and a valid Luhn check digit."""
    return 13 <= len(digits) <= 19 and digits[0] in _ISSUER_DIGITS and bool(luhn.is_valid(digits))


def credit_cards(scan: Scan) -> Iterator[Span]:
    """Card numbers, written or said, grouped any way ("4111 1111 1111 1111",
    "four one one one ...", "forty one eleven ..."), also when more digits follow."""
    for start, end, digits in scan.numbers():
        if len(digits) < 13:
            continue
        span = best_window(scan.text, start, end, is_card_number, 19)
        if span is not None:
            yield span


def card_expiries(scan: Scan) -> Iterator[Span]:
    """ "12/25", "12 25", "1225", "oh four twenty six", "March 2026", "the fourth of twenty
    eight": when an expiry is
    mentioned before it or was asked for."""
    for match in _EXPIRY.finditer(scan.text):
        if scan.is_time(*match.span()):
            continue
        if scan.cued(EXPIRY_CUE, match.start(), match.end(), before=50):
            yield match.span()


def security_codes(scan: Scan) -> Iterator[Span]:
    """Three or four digits named as the card's security code, or given when it was asked."""
    for start, end, _digits in numbers_of_length(scan, 3, 4):
        if not scan.is_amount(start, end) and scan.cued(CVV_CUE, start, end, before=50, after=25):
            yield start, end
