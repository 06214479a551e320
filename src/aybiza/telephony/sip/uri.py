"""SIP, SIPS and tel URIs (RFC 3261 §19.1, §25.1; RFC 3966), and any other scheme kept whole.

A parsed URI holds its parts unescaped (``%41`` is ``A``); ``str()`` escapes them again where the
grammar needs it. A scheme other than sip/sips/tel is an ``AbsoluteUri``: a parser must accept it
(RFC 4475 §3.3.2-§3.3.4); a UAS answers 416 when it is a Request-URI.
"""

from __future__ import annotations

import ipaddress
import string
from dataclasses import dataclass, field

from aybiza.telephony.sip.syntax import (
    ALPHANUM,
    UNRESERVED,
    SipParseError,
    percent_decode,
    percent_encode,
    show,
)

_SCHEME_CHARS = ALPHANUM | frozenset("+-.")
# The characters each URI part may hold unescaped (RFC 3261 §25.1).
_USER = UNRESERVED | frozenset("&=+$,;?/")
_PASSWORD = UNRESERVED | frozenset("&=+$,")
_PARAM = UNRESERVED | frozenset("[]/:&+$")
_HEADER = UNRESERVED | frozenset("[]/?:+$")
_ESCAPED = frozenset("%")
_HOSTNAME = ALPHANUM | frozenset("-.")
_TEL = frozenset(string.digits + "+-.()*#ABCDabcdef")
# What may stand in an opaque URI of another scheme: no spaces, controls, quotes or brackets.
_OPAQUE_FORBIDDEN = frozenset(' \t"<>')

UriParams = dict[str, str | None]


def _check_chars(text: str, allowed: frozenset[str], part: str, field_name: str) -> str:
    bad = next((c for c in text if c not in allowed and c not in _ESCAPED), None)
    if bad is not None:
        raise SipParseError(f"{field_name}: character {bad!r} is not allowed in the URI {part}")
    return percent_decode(text, field_name)


def _parse_host(text: str, field_name: str) -> tuple[str, int | None]:
    """host[:port] with host a name, an IPv4 address or a bracketed IPv6 reference."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipParseError(f"{field_name}: unterminated IPv6 reference in {show(text)}")
        host, rest = text[: end + 1], text[end + 1 :]
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise SipParseError(f"{field_name}: {show(host)} is not an IPv6 address") from None
    else:
        host, colon, port_text = text.partition(":")
        rest = colon + port_text
        if not host or any(c not in _HOSTNAME for c in host):
            raise SipParseError(f"{field_name}: {show(host)} is not a host name or address")
    port: int | None = None
    if rest:
        digits = rest[1:]
        if not rest.startswith(":") or not digits.isascii() or not digits.isdigit():
            raise SipParseError(f"{field_name}: invalid port in {show(text)}")
        if len(digits) > 5 or int(digits) > 65535:
            raise SipParseError(f"{field_name}: port {show(digits)} is above 65535")
        port = int(digits)
    return host.lower(), port


def _parse_uri_params(text: str, field_name: str) -> UriParams:
    params: UriParams = {}
    for raw in text.split(";"):
        name, equals, value = raw.partition("=")
        if not name:
            raise SipParseError(f"{field_name}: empty URI parameter")
        key = _check_chars(name, _PARAM, "parameters", field_name).lower()
        params[key] = _check_chars(value, _PARAM, "parameters", field_name) if equals else None
    return params


@dataclass(slots=True)
class SipUri:
    """``sip:user:password@host:port;params?headers`` (``sips`` when ``secure``)."""

    host: str
    user: str | None = None
    port: int | None = None
    secure: bool = False
    password: str | None = None
    params: UriParams = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def scheme(self) -> str:
        return "sips" if self.secure else "sip"

    @property
    def transport(self) -> str | None:
        """The ``transport`` parameter in upper case, if given."""
        value = self.params.get("transport")
        return value.upper() if value else None

    @property
    def loose_routing(self) -> bool:
        """Whether the ``lr`` parameter is present (RFC 3261 §19.1.1)."""
        return "lr" in self.params

    def __str__(self) -> str:
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(percent_encode(self.user, _USER))
            if self.password is not None:
                out.append(":" + percent_encode(self.password, _PASSWORD))
            out.append("@")
        out.append(self.host)
        if self.port is not None:
            out.append(f":{self.port}")
        for name, value in self.params.items():
            out.append(";" + percent_encode(name, _PARAM))
            if value is not None:
                out.append("=" + percent_encode(value, _PARAM))
        if self.headers:
            pairs = (
                percent_encode(name, _HEADER) + "=" + percent_encode(value, _HEADER)
                for name, value in self.headers.items()
            )
            out.append("?" + "&".join(pairs))
        return "".join(out)


@dataclass(slots=True)
class TelUri:
    """``tel:+15551234567;params`` (RFC 3966); ``number`` keeps its visual separators."""

    number: str
    params: UriParams = field(default_factory=dict)

    @property
    def scheme(self) -> str:
        return "tel"

    def __str__(self) -> str:
        params = "".join(
            f";{name}" if value is None else f";{name}={percent_encode(value, _PARAM)}"
            for name, value in self.params.items()
        )
        return f"tel:{self.number}{params}"


@dataclass(slots=True)
class AbsoluteUri:
    """A URI of a scheme this stack does not interpret, kept as written after the colon."""

    scheme: str
    opaque: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.opaque}"


Uri = SipUri | TelUri | AbsoluteUri


def _parse_sip(rest: str, secure: bool, field_name: str) -> SipUri:
    # Only the userinfo may hold '@' (everywhere else it must be escaped), and the userinfo may
    # hold ';' and '?', so the '@' is found before splitting off parameters and headers.
    at = rest.find("@")
    user = password = None
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        user_text, colon, password_text = userinfo.partition(":")
        if not user_text:
            raise SipParseError(f"{field_name}: empty user part before '@'")
        user = _check_chars(user_text, _USER, "user part", field_name)
        if colon:
            password = _check_chars(password_text, _PASSWORD, "password", field_name)
    rest, question, header_text = rest.partition("?")
    hostport, semicolon, param_text = rest.partition(";")
    host, port = _parse_host(hostport, field_name)
    params = _parse_uri_params(param_text, field_name) if semicolon else {}
    headers: dict[str, str] = {}
    if question:
        for pair in header_text.split("&"):
            name, equals, value = pair.partition("=")
            if not name or not equals:
                raise SipParseError(f"{field_name}: URI header {show(pair)} is not name=value")
            key = _check_chars(name, _HEADER, "headers", field_name)
            headers[key] = _check_chars(value, _HEADER, "headers", field_name)
    return SipUri(host, user, port, secure, password, params, headers)


def _parse_tel(rest: str, field_name: str) -> TelUri:
    number, semicolon, param_text = rest.partition(";")
    if not number or any(c not in _TEL for c in number):
        raise SipParseError(f"{field_name}: {show(number)} is not a telephone number")
    params = _parse_uri_params(param_text, field_name) if semicolon else {}
    return TelUri(number, params)


def parse_uri(text: str, field_name: str = "URI") -> Uri:
    """A URI as it appears in a Request-URI or inside ``<...>``; errors name ``field_name``."""
    scheme, colon, rest = text.partition(":")
    if (
        not colon
        or not scheme
        or not scheme[0].isascii()
        or not scheme[0].isalpha()
        or any(c not in _SCHEME_CHARS for c in scheme)
    ):
        raise SipParseError(f"{field_name}: {show(text)} is not a URI (scheme ':' ...)")
    scheme = scheme.lower()
    if not rest:
        raise SipParseError(f"{field_name}: nothing after {scheme!r}:")
    if scheme in ("sip", "sips"):
        return _parse_sip(rest, scheme == "sips", field_name)
    if scheme == "tel":
        return _parse_tel(rest, field_name)
    bad = next((c for c in rest if c in _OPAQUE_FORBIDDEN or ord(c) < 0x20 or c == "\x7f"), None)
    if bad is not None:
        raise SipParseError(f"{field_name}: character {bad!r} is not allowed in a URI")
    return AbsoluteUri(scheme, rest)
