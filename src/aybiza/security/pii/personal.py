"""Where a person is reached and who they are: email addresses (written, or said with "at" and
"dot"), street addresses, and dates of birth."""

from __future__ import annotations

import re
from collections.abc import Iterator

from aybiza.security.pii.scan import DOB_CUE, EMAIL_CUE, Scan, Span

_WRITTEN_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"
)
_TLDS = (
    "com|net|org|edu|gov|mil|int|io|co|us|uk|ca|de|fr|es|it|nl|be|ch|at|se|no|dk|fi|ie|pt|pl|"
    "au|nz|in|jp|br|mx|info|biz|me|ai|app|dev|tv|xyz|online|email|cloud|tech"
)
_SPOKEN_SEP = r"(?:\s+(?:dot|period|underscore|dash|hyphen)\s+|[._-])"
_DOT = r"(?:\s+dot\s+|\.)"
_SPOKEN_EMAIL = re.compile(
    rf"(?<![\w.])(?P<local>(?P<spelled>[a-z0-9](?:\s+[a-z0-9]){{2,}})"
    rf"|[a-z0-9]+(?:{_SPOKEN_SEP}[a-z0-9]+)*(?:\s+(?:[a-z]|\d+)(?![\w.]))*)"
    rf"\s+(?:at|at sign|at symbol|@)\s+"
    rf"(?P<domain>[a-z0-9-]+(?:\s+[a-z0-9-]+)?(?:{_DOT}[a-z0-9-]+)*){_DOT}(?:{_TLDS})\b",
    re.IGNORECASE,
)
_MAIL_PROVIDERS = frozenset(
    [
        "gmail",
        "googlemail",
        "yahoo",
        "hotmail",
        "outlook",
        "live",
        "msn",
        "icloud",
        "me",
        "aol",
        "protonmail",
        "proton",
        "gmx",
        "mail",
        "zoho",
        "comcast",
        "verizon",
        "att",
        "sbcglobal",
        "btinternet",
    ]
)
# "I work at acme dot com" names a place, not a mailbox.
_NOT_A_MAILBOX = frozenset(
    [
        "i",
        "me",
        "it",
        "him",
        "her",
        "them",
        "us",
        "you",
        "we",
        "they",
        "work",
        "home",
        "here",
        "there",
        "this",
        "that",
        "stuff",
        "things",
        "shopping",
        "something",
        "everything",
        "anything",
        "one",
        "someone",
        "everyone",
    ]
)

_WORD_BEFORE = re.compile(r"(?<![\w'’])([A-Za-z]+)\s+$")
_INTRODUCES_MAILBOX = _NOT_A_MAILBOX | frozenset(
    [
        "is",
        "was",
        "be",
        "at",
        "to",
        "my",
        "the",
        "email",
        "e",
        "mail",
        "address",
        "send",
        "sent",
        "write",
        "use",
        "try",
        "reach",
        "contact",
        "via",
        "on",
        "with",
        "from",
        "for",
        "by",
        "as",
        "and",
        "or",
        "please",
        "yes",
        "yeah",
        "sure",
        "ok",
        "okay",
        "um",
        "uh",
        "so",
        "have",
        "has",
        "had",
        "got",
        "get",
        "gave",
        "give",
        "are",
        "am",
        "im",
        "called",
        "named",
        "just",
        "also",
        "then",
        "now",
    ]
)

_NUMBER = r"\d{1,6}[a-z]?(?:-\d{1,4})?"
_DIRECTION = (
    r"(?:n|s|e|w|ne|nw|se|sw|north|south|east|west|northeast|northwest|southeast|southwest)"
)
_SUFFIX = (
    r"(?:street|st|avenue|ave|av|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|"
    r"terrace|ter|circle|cir|parkway|pkwy|highway|hwy|square|sq|trail|trl|crescent|cres|close|"
    r"row|alley|loop|plaza|path|pike|walk|expressway|freeway|turnpike)\.?"
)
_NOT_A_STREET_NAME = (
    r"the|a|an|of|on|in|at|to|for|from|and|or|but|down|up|my|your|our|their|his|her|its|is|was|"
    r"are|were|be|by|with|about|near|off|into|onto|over|past|than|that|this|these|those|per|"
    r"every|each|some|any|all|more|less|few|many|other|blocks?|miles?|minutes?|hours?|days?|"
    r"times?|dollars?|bucks|percent|people|kids|children|years?|months?|weeks?|items?|orders?|"
    r"units?|feet|foot|meters?|lanes?|cars?|stops?|exits?|doors?|houses?|buildings?|i|we|you|"
    r"they|he|she|it|me|us|them|just|also|only|still|then|when|where|which|who|what|not|no"
)
_NAME_WORD = rf"(?!(?:{_NOT_A_STREET_NAME})\b)[a-z0-9][a-z0-9'.-]*"
_UNIT = (
    r"(?:,?\s+(?:apartment|apt|unit|suite|ste|flat|floor|fl|room|rm|building|bldg|number|no|#)"
    r"\.?\s*#?\s*[a-z0-9-]+(?:\s+[a-z](?![\w']))?)"
)
_STATES = (
    r"alabama|alaska|arizona|arkansas|california|colorado|connecticut|delaware|florida|georgia|"
    r"hawaii|idaho|illinois|indiana|iowa|kansas|kentucky|louisiana|maine|maryland|massachusetts|"
    r"michigan|minnesota|mississippi|missouri|montana|nebraska|nevada|new hampshire|new jersey|"
    r"new mexico|new york|north carolina|north dakota|ohio|oklahoma|oregon|pennsylvania|"
    r"rhode island|south carolina|south dakota|tennessee|texas|utah|vermont|virginia|washington|"
    r"west virginia|wisconsin|wyoming|[a-z]{2}"
)
_CITY_STATE_ZIP = (
    rf"(?:,?\s+[a-z]+(?:\s+[a-z]+){{0,2}},?\s+(?:{_STATES})\.?,?\s+\d{{5}}(?:-\d{{4}})?)"
)
_STREET_ADDRESS = re.compile(
    rf"(?<![\w$.,])(?:{_NUMBER})\s+(?:{_DIRECTION}\.?\s+)?(?:{_NAME_WORD}\s+){{1,4}}{_SUFFIX}"
    rf"(?:\s+{_DIRECTION}\b\.?)?(?![\w'])"
    rf"{_UNIT}?{_CITY_STATE_ZIP}?(?:,?\s+\d{{5}}(?:-\d{{4}})?)?(?![\w'])",
    re.IGNORECASE,
)
_PO_BOX = re.compile(r"\b(?:p\.?\s?o\.?|post office)\s+box\s+\d{1,6}\b", re.IGNORECASE)

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DAY = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
_YEAR = r"(?:(?:19|20)\d{2}|'\d{2}|\d{2})"
_DATE = re.compile(
    rf"\b{_MONTH}\s+(?:the\s+)?{_DAY}(?:,?\s+(?:of\s+)?{_YEAR})?(?![\w/])"
    rf"|\b(?:the\s+)?{_DAY}\s+(?:of\s+)?{_MONTH}(?:,?\s+{_YEAR})?(?![\w/])"
    rf"|\b{_MONTH},?\s+(?:of\s+)?(?:19|20)\d{{2}}(?![\w/])"
    r"|(?<![\w/])\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})(?![\w/])"
    r"|(?<![\w/])(?:19|20)\d{2}-\d{2}-\d{2}(?![\w/])"
    r"|(?<![\w/])\d{2}(?:[ ,]{1,2}|[ .-])?\d{2}(?:[ ,]{1,2}|[ .-])?(?:19|20)\d{2}(?![\w/])"
    r"|(?<![\w/])\d{6}(?![\w/])"
    r"|(?<![\w/])\d{1,2}/\d{1,2}(?![\w/])",
    re.IGNORECASE,
)
_DIGITS_ONLY = re.compile(r"[\d ,.-]+")


def emails(scan: Scan) -> Iterator[Span]:
    """Written addresses, and spoken ones ("john at example dot com", "john dot smith at gmail
    dot com", "j o h n at ...") when they cannot be a place: an email was mentioned or asked
    for, the mailbox is spelled out or has a dot or underscore in it, or the domain is a mail
    provider's."""
    text = scan.text
    yield from (match.span() for match in _WRITTEN_EMAIL.finditer(text))
    for match in _SPOKEN_EMAIL.finditer(text):
        if "@" in match.group():
            continue  # written, found above
        local = match.group("local").lower()
        if match.group("spelled") is None and local in _NOT_A_MAILBOX:
            continue
        provider = re.split(r"\s+dot\s+|\.", match.group("domain").lower())[0]
        strong = (
            match.group("spelled") is not None
            or bool(re.search(r"[._-]|\s(?:dot|underscore|dash|hyphen|period)\s|\d", local))
            or provider in _MAIL_PROVIDERS
        )
        if strong or scan.cued(EMAIL_CUE, match.start(), match.end(), before=80):
            start = match.start()
            if match.group("local").isalpha():
                start = _mailbox_start(text, start)
            yield start, match.end()


def _mailbox_start(text: str, start: int) -> int:
    """Where a mailbox said as more words begins ("jane doe at gmail dot com" is janedoe): up
    to two more words before a one-word mailbox, stopping at words that introduce it ("is",
    "to", "me", "have")."""
    for _ in range(2):
        word = _WORD_BEFORE.search(text, 0, start)
        if word is None or word.group(1).lower() in _INTRODUCES_MAILBOX:
            break
        start = word.start(1)
    return start


def street_addresses(scan: Scan) -> Iterator[Span]:
    """A house number, a street name and its kind ("1234 Elm Street", "twelve thirty four elm
    street", "350 fifth avenue"), with the unit, city, state and ZIP code when they follow;
    and PO boxes."""
    for pattern in (_STREET_ADDRESS, _PO_BOX):
        yield from (match.span() for match in pattern.finditer(scan.text))


def dates_of_birth(scan: Scan) -> Iterator[Span]:
    """A date (or a day and month) when a birth is mentioned near it or was asked for: "date of
    birth is March fourth nineteen eighty", "born 3/4/80", "oh three oh four nineteen eighty"
    after "What is your date of birth?"."""
    text = scan.text
    for match in _DATE.finditer(text):
        start, end = match.span()
        if _DIGITS_ONLY.fullmatch(match.group()) and not _calendar_digits(match.group()):
            continue
        if scan.cued(DOB_CUE, start, end, before=60, after=40):
            yield start, end


def _calendar_digits(value: str) -> bool:
    """A date written in digits has a real month and day (month or day first; ISO year first;
    "12/03" is a birthday without its year)."""
    parts = re.findall(r"\d+", value)
    if len(parts) == 1:
        digits = parts[0]
        parts = [digits[:2], digits[2:4], digits[4:]]
    elif len(parts) == 3 and len(parts[0]) == 4:
        parts = [parts[1], parts[2], parts[0]]
    if len(parts) not in (2, 3) or len(parts[0]) > 2 or len(parts[1]) > 2:
        return False
    first, second = int(parts[0]), int(parts[1])
    return (1 <= first <= 12 and 1 <= second <= 31) or (1 <= second <= 12 and 1 <= first <= 31)
