"""SIP header fields: names (compact forms), name-addr values, Via, CSeq, and the rest as text.

RFC 3261 §7.3 and §20. The fields every transaction and dialog needs (Via, From, To, Contact,
Route, Record-Route, CSeq) are parsed into small dataclasses; any other field stays text in
``Headers``, in order, so an unknown field passes through unchanged.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from aybiza.telephony.sip.syntax import (
    WHITESPACE,
    Params,
    SipParseError,
    format_params,
    is_token,
    parse_params,
    parse_uint,
    quote,
    read_quoted,
    show,
    split_outside_quotes,
)
from aybiza.telephony.sip.uri import Uri, parse_uri

# RFC 3261 §7.3.3 and the compact forms IANA registered since (RFC 3265, 3515, 3892, 4028...).
COMPACT_FORMS = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
}
_SPELLINGS = [
    *COMPACT_FORMS.values(),
    "Accept",
    "Alert-Info",
    "Allow",
    "Authorization",
    "Call-Info",
    "CSeq",
    "Date",
    "Error-Info",
    "Expires",
    "Max-Forwards",
    "Min-Expires",
    "Min-SE",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Proxy-Require",
    "Reason",
    "Record-Route",
    "Replaces",
    "Require",
    "Retry-After",
    "Route",
    "Server",
    "Timestamp",
    "Unsupported",
    "User-Agent",
    "Warning",
    "WWW-Authenticate",
]
_CANONICAL = {name.lower(): name for name in _SPELLINGS}
MAGIC_COOKIE = "z9hG4bK"
MAX_CSEQ = 2**32 - 1


def canonical_name(name: str) -> str:
    """The usual spelling of a header name: compact forms expanded, known names re-cased,
    unknown names as written (they compare case-insensitively)."""
    lowered = name.lower()
    if lowered in COMPACT_FORMS:
        return COMPACT_FORMS[lowered]
    return _CANONICAL.get(lowered, name)


def new_branch() -> str:
    """A fresh Via branch: the RFC 3261 magic cookie and 64 random bits."""
    return MAGIC_COOKIE + secrets.token_hex(8)


def new_tag() -> str:
    """A fresh From/To tag (RFC 3261 §19.3: at least 32 random bits)."""
    return secrets.token_hex(6)


@dataclass(slots=True)
class NameAddr:
    """``"Display" <uri>;params``: the value of From, To, Contact, Route and Record-Route."""

    uri: Uri
    display_name: str | None = None
    params: Params = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    @property
    def expires(self) -> int | None:
        """The ``expires`` parameter in seconds; None when absent or outside 0..2**32-1."""
        value = self.params.get("expires")
        if value is None or not value.isascii() or not value.isdigit() or len(value) > 10:
            return None
        seconds = int(value)
        return seconds if seconds <= MAX_CSEQ else None

    def with_tag(self, tag: str) -> NameAddr:
        """A copy carrying ``tag``."""
        return NameAddr(self.uri, self.display_name, {**self.params, "tag": tag})

    def __str__(self) -> str:
        display = "" if self.display_name is None else quote(self.display_name) + " "
        return f"{display}<{self.uri}>{format_params(self.params)}"

    @classmethod
    def parse(cls, text: str, field_name: str) -> NameAddr:
        """One name-addr or addr-spec value (RFC 3261 §20.10, §20.20)."""
        value = text.strip(WHITESPACE)
        display: str | None = None
        if value.startswith('"'):
            display, end = read_quoted(value, 0, field_name)
            value = value[end:].lstrip(WHITESPACE)
            if not value.startswith("<"):
                raise SipParseError(f"{field_name}: expected '<' after the display name")
        open_at = value.find("<")
        if open_at < 0:
            # addr-spec form: parameters after the URI belong to the header, and a URI that
            # holds ';' '?' or ',' must be in brackets (RFC 3261 §20.10).
            uri_text, semicolon, param_text = value.partition(";")
            uri_text = uri_text.strip(WHITESPACE)
            if "?" in uri_text:
                raise SipParseError(f"{field_name}: a URI with headers must be enclosed in <>")
            if not uri_text or any(c in WHITESPACE for c in uri_text):
                raise SipParseError(f"{field_name}: {show(value)} is not a URI")
            params = parse_params(";" + param_text, field_name) if semicolon else {}
            return cls(parse_uri(uri_text, field_name), None, params)
        if display is None:
            words = value[:open_at].split()
            if any(not is_token(word) for word in words):
                raise SipParseError(
                    f"{field_name}: a display name that is not tokens must be quoted"
                )
            display = " ".join(words) or None
        close_at = value.find(">", open_at)
        if close_at < 0:
            raise SipParseError(f"{field_name}: '<' without a closing '>'")
        uri_text = value[open_at + 1 : close_at]
        if any(c in WHITESPACE for c in uri_text):
            raise SipParseError(f"{field_name}: spaces inside <{show(uri_text)}>")
        params = parse_params(value[close_at + 1 :], field_name)
        return cls(parse_uri(uri_text, field_name), display, params)


@dataclass(slots=True)
class Via:
    """One Via value: ``SIP/2.0/UDP host:port;branch=...;received=...;rport=...``."""

    transport: str
    host: str
    port: int | None = None
    params: Params = field(default_factory=dict)

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        return self.params.get("received")

    @property
    def rport(self) -> int | None:
        """The port RFC 3581's ``rport`` reports, once a server has filled it in."""
        value = self.params.get("rport")
        return int(value) if value else None

    @property
    def wants_rport(self) -> bool:
        """Whether the sender asked for symmetric response routing (RFC 3581)."""
        return "rport" in self.params

    @property
    def sent_by(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"SIP/2.0/{self.transport} {self.sent_by}{format_params(self.params)}"

    @classmethod
    def parse(cls, text: str, field_name: str = "Via") -> Via:
        """One via-parm (RFC 3261 §20.42); LWS around '/' and ':' is allowed."""
        parts = text.split("/", 2)
        if len(parts) != 3:
            raise SipParseError(f"{field_name}: expected SIP/2.0/TRANSPORT, got {show(text)}")
        name, version = parts[0].strip(WHITESPACE), parts[1].strip(WHITESPACE)
        if name.upper() != "SIP" or version != "2.0":
            raise SipParseError(
                f"{field_name}: protocol {show(name + '/' + version)} is not SIP/2.0"
            )
        rest = parts[2].lstrip(WHITESPACE)
        cut = next((i for i, c in enumerate(rest) if c in WHITESPACE), len(rest))
        transport, rest = rest[:cut], rest[cut:].lstrip(WHITESPACE)
        if not is_token(transport):
            raise SipParseError(f"{field_name}: invalid transport {show(transport)}")
        sent_by, semicolon, param_text = rest.partition(";")
        host, port = _parse_sent_by(sent_by, field_name)
        params = parse_params(";" + param_text, field_name) if semicolon else {}
        rport = params.get("rport")
        if rport is not None:
            parse_uint(rport, f"{field_name} rport", 65535)
        return cls(transport.upper(), host, port, params)


def _parse_sent_by(text: str, field_name: str) -> tuple[str, int | None]:
    """host[:port]; LWS is allowed around the ':' (RFC 3261 §25.1 COLON)."""
    host = text.strip(WHITESPACE)
    port_text: str | None = None
    if host.startswith("["):
        end = host.find("]")
        after = host[end + 1 :].lstrip(WHITESPACE) if end >= 0 else ""
        if end < 0 or (after and not after.startswith(":")):
            raise SipParseError(f"{field_name}: invalid IPv6 sent-by {show(text)}")
        host, port_text = host[: end + 1], after[1:] if after else None
    elif ":" in host:
        host, _, port_text = host.partition(":")
        host = host.rstrip(WHITESPACE)
    if not host or any(not (c.isascii() and (c.isalnum() or c in "-.:[]")) for c in host):
        raise SipParseError(f"{field_name}: invalid sent-by host {show(host)}")
    port = None if port_text is None else parse_uint(port_text, f"{field_name} port", 65535)
    return host.lower(), port


@dataclass(frozen=True, slots=True)
class CSeq:
    """``CSeq: 1 INVITE``: the request's sequence number and method."""

    number: int
    method: str

    def __str__(self) -> str:
        return f"{self.number} {self.method}"

    @classmethod
    def parse(cls, text: str) -> CSeq:
        words = text.split()
        if len(words) != 2:
            raise SipParseError(f"CSeq: expected 'number METHOD', got {show(text)}")
        if not is_token(words[1]):
            raise SipParseError(f"CSeq: invalid method {show(words[1])}")
        return cls(parse_uint(words[0], "CSeq", MAX_CSEQ), words[1])


@dataclass(slots=True)
class Headers:
    """The header fields without a typed place in a message, in order, as (name, value) text.

    Names compare case-insensitively; a field may repeat."""

    fields: list[tuple[str, str]] = field(default_factory=list)

    def __init__(self, fields: Iterable[tuple[str, str]] = ()) -> None:
        self.fields = [(canonical_name(name), value) for name, value in fields]

    def get(self, name: str) -> str | None:
        """The first value of ``name``, or None."""
        wanted = canonical_name(name).lower()
        return next((v for n, v in self.fields if n.lower() == wanted), None)

    def get_all(self, name: str) -> list[str]:
        wanted = canonical_name(name).lower()
        return [v for n, v in self.fields if n.lower() == wanted]

    def get_list(self, name: str) -> list[str]:
        """Every comma-separated element of every ``name`` field (for list-valued headers such
        as Allow, Supported or Require); commas inside quotes or ``<>`` do not split."""
        out: list[str] = []
        for value in self.get_all(name):
            parts = split_outside_quotes(value, ",", canonical_name(name))
            out.extend(part.strip(WHITESPACE) for part in parts if part.strip(WHITESPACE))
        return out

    def add(self, name: str, value: str) -> None:
        self.fields.append((canonical_name(name), value))

    def set(self, name: str, value: str) -> None:
        """Replace every ``name`` field with one holding ``value``."""
        self.remove(name)
        self.add(name, value)

    def remove(self, name: str) -> None:
        wanted = canonical_name(name).lower()
        self.fields = [(n, v) for n, v in self.fields if n.lower() != wanted]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def x_headers(self) -> dict[str, str]:
        """The ``X-`` fields (custom parameters for the agent), repeated ones joined by ", "."""
        found: dict[str, list[str]] = {}
        for name, value in self.fields:
            if name[:2].lower() == "x-":
                found.setdefault(name, []).append(value)
        return {name: ", ".join(values) for name, values in found.items()}
