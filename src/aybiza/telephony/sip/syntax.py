"""The lexical rules of SIP (RFC 3261 §25.1) that every header and URI parser shares.

Everything here works in one pass over its input (no backtracking regular expressions), so a
hostile message costs time in proportion to its length. Any malformed input raises
``SipParseError`` naming the field and what is wrong: a UAS puts that text in its 400.
"""

from __future__ import annotations

import string

ALPHANUM = frozenset(string.ascii_letters + string.digits)
# token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
TOKEN = ALPHANUM | frozenset("-.!%*_+`'~")
# word adds the characters a Call-ID may hold besides token characters.
WORD = TOKEN | frozenset('()<>:\\"/[]?{}')
WHITESPACE = " \t"
# unreserved (RFC 3261 §25.1) is RFC 2396's: alphanum / mark.
UNRESERVED = ALPHANUM | frozenset("-_.!~*'()")


class SipParseError(ValueError):
    """A message (or part of one) that does not follow the SIP grammar.

    ``reason`` names the field and the problem; ``status`` is the response a UAS sends for it
    (400 Bad Request; 505 for another SIP version; 513 for a message over the size cap)."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status

    @property
    def reason_phrase(self) -> str:
        """The reason as a safe Reason-Phrase: printable ASCII only, at most 120 characters."""
        cleaned = "".join(c if " " <= c <= "~" else "?" for c in self.reason)
        return cleaned[:120]


def is_token(text: str) -> bool:
    """Whether ``text`` is a non-empty SIP token."""
    return bool(text) and all(c in TOKEN for c in text)


def show(text: str, limit: int = 40) -> str:
    """``text`` quoted for an error message, shortened so a huge field cannot flood a log."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def parse_uint(text: str, field: str, maximum: int) -> int:
    """A decimal integer (leading zeros allowed) between 0 and ``maximum``."""
    digits = text.strip(WHITESPACE)
    if not digits or not digits.isascii() or not digits.isdigit():
        raise SipParseError(f"{field}: expected a non-negative integer, got {show(text)}")
    # Leading zeros are legal ("0068"); a value longer than any legal one is out of range
    # without converting it, so a megabyte of digits costs nothing.
    significant = digits.lstrip("0") or "0"
    if len(significant) > len(str(maximum)) or int(significant) > maximum:
        raise SipParseError(f"{field}: {show(digits)} is above the maximum {maximum}")
    return int(significant)


def split_outside_quotes(text: str, separator: str, field: str) -> list[str]:
    """Split on ``separator`` where it is outside double quotes and outside ``<...>``.

    Quoted strings honour backslash escapes; an unterminated quote is an error."""
    parts: list[str] = []
    start = 0
    quoted = False
    angle = False
    index = 0
    length = len(text)
    while index < length:
        char = text[index]
        if quoted:
            if char == "\\":
                index += 1
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == "<":
            angle = True
        elif char == ">":
            angle = False
        elif char == separator and not angle:
            parts.append(text[start:index])
            start = index + 1
        index += 1
    if quoted:
        raise SipParseError(f"{field}: unterminated quoted string")
    parts.append(text[start:])
    return parts


def split_list(value: str, field: str) -> list[str]:
    """The elements of a comma-separated header value; an empty element is an error."""
    if not value.strip(WHITESPACE):
        return []
    parts = [part.strip(WHITESPACE) for part in split_outside_quotes(value, ",", field)]
    if any(not part for part in parts):
        raise SipParseError(f"{field}: empty element in a comma-separated list")
    return parts


def read_quoted(text: str, start: int, field: str) -> tuple[str, int]:
    """The unescaped content of the quoted string at ``text[start] == '"'`` and the index after
    its closing quote."""
    out: list[str] = []
    index = start + 1
    length = len(text)
    while index < length:
        char = text[index]
        if char == "\\":
            if index + 1 >= length:
                break
            out.append(text[index + 1])
            index += 2
            continue
        if char == '"':
            return "".join(out), index + 1
        out.append(char)
        index += 1
    raise SipParseError(f"{field}: unterminated quoted string")


def quote(text: str) -> str:
    """``text`` as a SIP quoted-string: ``"``, ``\\`` and control characters escaped as
    quoted-pairs; CR and LF, which no quoted-pair may hold, become spaces (so a display name
    taken from elsewhere cannot inject a header line)."""
    out = ['"']
    for char in text:
        if char in "\r\n":
            out.append(" ")
        elif char in '"\\' or (ord(char) < 0x20 and char != "\t") or char == "\x7f":
            out.append("\\" + char)
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


Params = dict[str, str | None]


def parse_params(text: str, field: str) -> Params:
    """Header parameters ``;name[=value]`` (values may be quoted strings).

    Names are case-insensitive and kept in lower case; a quoted value is stored unquoted."""
    params: Params = {}
    rest = text.strip(WHITESPACE)
    if not rest:
        return params
    if not rest.startswith(";"):
        raise SipParseError(f"{field}: expected ';' before parameters, got {show(rest)}")
    for raw in split_outside_quotes(rest[1:], ";", field):
        name, equals, value = raw.partition("=")
        name = name.strip(WHITESPACE)
        if not is_token(name):
            raise SipParseError(f"{field}: empty or invalid parameter name {show(name)}")
        if not equals:
            params[name.lower()] = None
            continue
        value = value.strip(WHITESPACE)
        if value.startswith('"'):
            unquoted, end = read_quoted(value, 0, field)
            if value[end:].strip(WHITESPACE):
                raise SipParseError(f"{field}: text after the quoted value of {name!r}")
            params[name.lower()] = unquoted
        elif value and all(c in TOKEN or c in "[]:" for c in value):
            # host and IPv6 values (received, maddr) use ':' and brackets beside token chars.
            params[name.lower()] = value
        else:
            raise SipParseError(f"{field}: invalid value {show(value)} for parameter {name!r}")
    return params


def format_params(params: Params) -> str:
    """``params`` as ``;name=value`` text, quoting values that are not tokens."""
    out: list[str] = []
    for name, value in params.items():
        if value is None:
            out.append(f";{name}")
        elif value and all(c in TOKEN or c in "[]:" for c in value):
            out.append(f";{name}={value}")
        else:
            out.append(f";{name}={quote(value)}")
    return "".join(out)


def percent_decode(text: str, field: str) -> str:
    """``%HH`` escapes decoded (once: ``%2541`` is ``%41``), as UTF-8 where the bytes are."""
    if "%" not in text:
        return text
    out = bytearray()
    index = 0
    raw = text.encode("utf-8")
    length = len(raw)
    while index < length:
        byte = raw[index]
        if byte == 0x25:  # '%'
            pair = raw[index + 1 : index + 3]
            if len(pair) != 2 or not all(chr(b) in string.hexdigits for b in pair):
                raise SipParseError(f"{field}: '%' not followed by two hex digits")
            out.append(int(pair, 16))
            index += 3
        else:
            out.append(byte)
            index += 1
    return out.decode("utf-8", errors="surrogateescape")


def percent_encode(text: str, allowed: frozenset[str]) -> str:
    """``text`` with every character outside ``allowed`` written as ``%HH`` of its bytes."""
    out: list[str] = []
    for char in text:
        if char in allowed:
            out.append(char)
        else:
            data = char.encode("utf-8", errors="surrogateescape")
            out.extend(f"%{byte:02X}" for byte in data)
    return "".join(out)
