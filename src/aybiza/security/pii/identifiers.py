"""Numbers that identify a person or their money: US Social Security numbers, phone numbers
(``phonenumbers``: valid for the agent's region or in international form), bank account and
routing numbers, and IBANs (ISO 13616 check digits, ``python-stdnum``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

import phonenumbers
from stdnum import iban, numdb

from aybiza.security.pii.scan import (
    BANK_CUE,
    NAMED_NUMBER,
    NAMED_NUMBER_PROMPT,
    PHONE_CUE,
    SSN_CUE,
    SSN_LAST_FOUR,
    Scan,
    Span,
    best_window,
    compact,
    numbers_of_length,
)

_SEP = r"(?:[- ]|, ?)"
_SSN_GROUPED = re.compile(rf"(?<![\w-])\d{{3}}{_SEP}\d{{2}}{_SEP}\d{{4}}(?![\w-])")
# Phone numbers as written: "+44 20 7946 0958", "(415) 555-0132", "1-800-555-0199",
# "415.555.0132", and as normalised speech: "4155550132", "555, 1234".
_PHONE = re.compile(r"(?<![\w+(])(?:\+ ?)?\(?\d+(?:(?:[ \-.]|, ?| ?\(|\) ?)\d+)*(?!\w)")
# How North American numbers are written: "(555) 123-4567", "555-123-4567", "+1 555.123.4567",
# and said with pauses ("555, 123, 4567").
_PHONE_SHAPED = re.compile(
    r"(?:\+?1[ .-]?)?(?:\(\d{3}\) ?|\d{3}(?:[ .-]|, ?))\d{3}(?:[ .-]|, ?)\d{4}"
)
_LOCAL_PHONE = re.compile(r"\d{3}(?:[- .]|, ?)?\d{4}")
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z] ?[A-Za-z] ?\d ?\d(?: ?[A-Za-z0-9]){10,31}")


def social_security_numbers(scan: Scan) -> Iterator[Span]:
    """ "123-45-6789" (any number of that shape in that grouping: SSNs and ITINs alike),
    nine digits named as a social security number, and "the last four of my social" with its
    four digits."""
    text = scan.text
    for match in _SSN_GROUPED.finditer(text):
        if _ssn_shaped(compact(match.group())):
            yield match.span()
    for start, end, digits in numbers_of_length(scan, 4, 9):
        if scan.is_amount(start, end):
            continue
        if len(digits) == 9 and not _SSN_GROUPED.fullmatch(text, start, end):
            if _ssn_shaped(digits) and scan.cued(SSN_CUE, start, end, before=60, after=30):
                yield start, end
        elif len(digits) == 4 and SSN_LAST_FOUR.search(text, max(0, start - 60), start):
            yield start, end


def _ssn_shaped(digits: str) -> bool:
    """Nine digits with no group all zeros (the one rule every issued number keeps)."""
    return len(digits) == 9 and digits[:3] != "000" and digits[3:5] != "00" and digits[5:] != "0000"


def phone_numbers(scan: Scan) -> Iterator[Span]:
    """Numbers ``phonenumbers`` calls valid (for the region, or with a ``+``); numbers it calls
    possible when written as a phone number ("(555) 123-4567", "555-123-4567") or when the
    caller says (or was asked) it is their phone; seven-digit local numbers then too. A number
    named as something else just before ("order number is ...") is not a phone number."""
    text = scan.text
    region = scan.region
    for match in _PHONE.finditer(text):
        start, end = match.span()
        digits = compact(match.group())
        if len(digits) < 7 or len(digits) > 20 or scan.is_claimed(start, end):
            continue
        asked = scan.cued(PHONE_CUE, start, end, before=60)
        if NAMED_NUMBER.search(text, max(0, start - 40), start) and not scan.said_near(
            PHONE_CUE, start, end, before=40, after=0
        ):
            continue
        if not asked and scan.prompt_has(NAMED_NUMBER_PROMPT):
            continue
        span = best_window(text, start, end, lambda d: _phone(d, region, valid=True), 15)
        if span is None and (asked or _PHONE_SHAPED.fullmatch(text, start, end)):
            span = best_window(text, start, end, lambda d: _phone(d, region, valid=False), 15)
        if match.group().startswith("+") and _phone("+" + digits, region, valid=True):
            span = (start, end)
        if span is not None:
            first_digit = start + len(match.group()) - len(match.group().lstrip("+ ("))
            yield (start if span[0] == first_digit else span[0]), span[1]
        elif asked and len(digits) == 7 and _LOCAL_PHONE.fullmatch(text, start, end):
            yield start, end


def _phone(number: str, region: str, *, valid: bool) -> bool:
    """A valid (or, with ``valid`` false, a possible) number of ``region`` or, with a ``+``,
    of any country."""
    international = number.startswith("+")
    if not international and len(number) < 10:
        return False
    try:
        parsed = phonenumbers.parse(number, None if international else region)
    except phonenumbers.NumberParseException:
        return False
    check = phonenumbers.is_valid_number if valid else phonenumbers.is_possible_number
    return bool(check(parsed))


def bank_accounts(scan: Scan) -> Iterator[Span]:
    """Six to seventeen digits named as a bank account, routing number or sort code, or given
    when one was asked for."""
    for start, end, _digits in numbers_of_length(scan, 6, 17):
        if not scan.is_amount(start, end) and scan.cued(BANK_CUE, start, end, before=60, after=20):
            yield start, end


def ibans(scan: Scan) -> Iterator[Span]:
    """IBANs written or spelled out ("GB82 WEST 1234 5698 7654 32", "g b eight two w e s t
    ..."): as many characters as the country's IBANs have, with the right check digits."""
    text = scan.text
    for match in _IBAN.finditer(text):
        positions = [i for i in range(match.start(), match.end()) if not text[i].isspace()]
        chars = "".join(text[i] for i in positions).upper()
        length = _iban_length(chars[:2])
        if length is None or len(chars) < length:
            continue
        if iban.is_valid(chars[:length], check_country=False):
            yield match.start(), positions[length - 1] + 1


@lru_cache(maxsize=128)
def _iban_length(country: str) -> int | None:
    """The length of ``country``'s IBANs per the registry ``python-stdnum`` ships (None for
    a country without IBANs)."""
    found = numdb.get("iban").info(country)
    structure = found[0][1].get("bban") if found and found[0][0] == country else None
    if not structure:
        return None
    return 4 + sum(int(count) for count in re.findall(r"(\d+)!?[nac]", structure))
