"""SIP requests and responses as dataclasses: ``parse(bytes)`` and ``serialize()``.

RFC 3261 §7 (message format), §20 (header fields), §18.3 (framing). ``parse`` reads one message
as a datagram holds it: the body is ``Content-Length`` bytes and anything after it is ignored
(RFC 4475 §3.1.1.8); without ``Content-Length`` the body is the rest of the datagram. Over a
stream, ``framing.StreamFramer`` finds the message boundaries first.

A parsed message has every field a transaction or dialog relies on (Via, From, To, Call-ID,
CSeq) and they are well formed; anything else raises ``SipParseError`` with the reason a 400
carries. Input is capped in size and header count, and parsing is linear in the input.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from aybiza.telephony.sip.headers import CSeq, Headers, NameAddr, Via, canonical_name, new_tag
from aybiza.telephony.sip.syntax import (
    WHITESPACE,
    SipParseError,
    is_token,
    parse_uint,
    show,
    split_list,
)
from aybiza.telephony.sip.uri import SipUri, Uri, parse_uri

MAX_MESSAGE_BYTES = 64 * 1024
MAX_HEADER_FIELDS = 256
SIP_VERSION = "SIP/2.0"
REASON_PHRASES = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    422: "Session Interval Too Small",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "Version Not Supported",
    513: "Message Too Large",
    603: "Decline",
}
# Fields with a typed place in Request/Response; every other field stays in ``headers``.
_SINGLE = ("From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Length")
_LISTS = ("Via", "Contact", "Route", "Record-Route")


@dataclass(slots=True, kw_only=True)
class _Fields:
    """The header fields requests and responses share."""

    via: list[Via]
    from_: NameAddr
    to: NameAddr
    call_id: str
    cseq: CSeq
    contact: list[NameAddr] = field(default_factory=list)
    record_route: list[NameAddr] = field(default_factory=list)
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    @property
    def x_headers(self) -> dict[str, str]:
        """The ``X-`` header fields, for the agent's custom parameters."""
        return self.headers.x_headers()

    @property
    def content_type(self) -> str | None:
        return self.headers.get("Content-Type")

    def _serialize(self, start_line: str, extra: Iterable[tuple[str, str]]) -> bytes:
        lines = [start_line]
        lines.extend(f"Via: {via}" for via in self.via)
        lines.extend(f"{name}: {value}" for name, value in extra)
        lines.append(f"From: {self.from_}")
        lines.append(f"To: {self.to}")
        lines.append(f"Call-ID: {self.call_id}")
        lines.append(f"CSeq: {self.cseq}")
        lines.extend(f"Contact: {contact}" for contact in self.contact)
        lines.extend(f"Record-Route: {route}" for route in self.record_route)
        lines.extend(f"{name}: {value}" for name, value in self.headers)
        lines.append(f"Content-Length: {len(self.body)}")
        for line in lines:
            if "\r" in line or "\n" in line:
                # A value from elsewhere (an API field, a config) must not add header lines.
                raise ValueError(f"CR or LF inside the SIP line {line[:40]!r}")
        head = "\r\n".join(lines) + "\r\n\r\n"
        return head.encode("utf-8", errors="surrogateescape") + self.body


@dataclass(slots=True, kw_only=True)
class Request(_Fields):
    """A SIP request. ``route`` is its Route set; ``max_forwards`` None means absent."""

    method: str
    uri: Uri
    max_forwards: int | None = 70
    route: list[NameAddr] = field(default_factory=list)

    def serialize(self) -> bytes:
        extra: list[tuple[str, str]] = [("Route", str(route)) for route in self.route]
        if self.max_forwards is not None:
            extra.insert(0, ("Max-Forwards", str(self.max_forwards)))
        return self._serialize(f"{self.method} {self.uri} {SIP_VERSION}", extra)

    def response(
        self,
        status: int,
        reason: str | None = None,
        *,
        to_tag: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> Response:
        """The response to this request (RFC 3261 §8.2.6.2): Via (all), From, To, Call-ID and
        CSeq copied; ``to_tag`` added to To when it has none; Record-Route copied on 1xx/2xx
        (§12.1.1). A 100 echoes the Timestamp field (§8.2.6.1)."""
        to = self.to.with_tag(to_tag) if to_tag and self.to.tag is None else self.to
        extra = Headers(headers)
        timestamp = self.headers.get("Timestamp")
        if status == 100 and timestamp is not None:
            extra.add("Timestamp", timestamp)
        return Response(
            via=list(self.via),
            from_=self.from_,
            to=to,
            call_id=self.call_id,
            cseq=self.cseq,
            record_route=list(self.record_route) if 100 < status < 300 else [],
            headers=extra,
            body=body,
            status=status,
            reason=REASON_PHRASES.get(status, "Unknown") if reason is None else reason,
        )


@dataclass(slots=True, kw_only=True)
class Response(_Fields):
    """A SIP response."""

    status: int
    reason: str

    def serialize(self) -> bytes:
        return self._serialize(f"{SIP_VERSION} {self.status} {self.reason}", ())


Message = Request | Response


def _check_version(version: str) -> None:
    if version.upper() == SIP_VERSION:
        return
    name, _, number = version.partition("/")
    major, dot, minor = number.partition(".")
    if name.upper() == "SIP" and dot and major.isdigit() and minor.isdigit():
        raise SipParseError(f"SIP version {show(version)} is not supported", status=505)
    raise SipParseError(f"start line: {show(version)} is not a SIP version")


def _split_head(data: bytes) -> tuple[list[str], bytes]:
    if len(data) > MAX_MESSAGE_BYTES:
        raise SipParseError(f"message of {len(data)} bytes is over {MAX_MESSAGE_BYTES}", 513)
    # RFC 3261 §7.5: CRLFs before the start line are ignored (keep-alives over streams).
    offset = 0
    while data.startswith(b"\r\n", offset):
        offset += 2
    end = data.find(b"\r\n\r\n", offset)
    if end < 0:
        # Liberal with a datagram that ends right after its last header line: it can have no
        # body, and the fields then say what else is wrong with it (RFC 4475's baddn.dat).
        if not data.endswith(b"\r\n"):
            raise SipParseError("no empty line after the header fields")
        end = len(data) - 2
        data += b"\r\n"
    try:
        head = data[offset:end].decode("utf-8")
    except UnicodeDecodeError as error:
        raise SipParseError(f"header fields are not UTF-8 (byte {error.start})") from None
    if "\r" in head.replace("\r\n", "") or "\n" in head.replace("\r\n", ""):
        raise SipParseError("a bare CR or LF inside the header fields")
    return head.split("\r\n"), data[end + 4 :]


def _unfold(lines: list[str]) -> list[tuple[str, str]]:
    """(name, value) per header field, continuation lines joined with one space (§7.3.1)."""
    fields: list[tuple[str, str]] = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            if not fields:
                raise SipParseError("a continuation line before any header field")
            name, value = fields[-1]
            fields[-1] = (name, f"{value} {line.strip(WHITESPACE)}".strip(WHITESPACE))
            continue
        name, colon, value = line.partition(":")
        name = name.rstrip(WHITESPACE)
        if not colon or not is_token(name):
            raise SipParseError(f"header line {show(line)} has no valid 'Name:'")
        fields.append((canonical_name(name), value.strip(WHITESPACE)))
        if len(fields) > MAX_HEADER_FIELDS:
            raise SipParseError(f"more than {MAX_HEADER_FIELDS} header fields")
    return fields


def _typed(fields: list[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]], Headers]:
    single: dict[str, str] = {}
    lists: dict[str, list[str]] = {name: [] for name in _LISTS}
    rest = Headers()
    for name, value in fields:
        if name in _SINGLE:
            if name in single:
                raise SipParseError(f"{name}: more than one value")
            single[name] = value
        elif name in lists and not (name == "Contact" and value == "*"):
            lists[name].extend(split_list(value, name))
        else:
            rest.fields.append((name, value))
    if sum(len(values) for values in lists.values()) > MAX_HEADER_FIELDS:
        raise SipParseError(f"more than {MAX_HEADER_FIELDS} Via/Contact/Route values")
    for required in ("From", "To", "Call-ID", "CSeq"):
        if required not in single:
            raise SipParseError(f"missing {required} header field")
    if not lists["Via"]:
        raise SipParseError("missing Via header field")
    return single, lists, rest


def _body(single: dict[str, str], rest: bytes) -> bytes:
    text = single.get("Content-Length")
    if text is None:
        return rest
    length = parse_uint(text, "Content-Length", MAX_MESSAGE_BYTES)
    if length > len(rest):
        raise SipParseError(f"Content-Length {length} is more than the {len(rest)} body bytes")
    return rest[:length]


def _status_line(start: str) -> tuple[int, str]:
    version, _, rest = start.partition(" ")
    _check_version(version)
    code, _, reason = rest.partition(" ")
    if len(code) != 3 or not code.isascii() or not code.isdigit() or not 100 <= int(code) <= 699:
        raise SipParseError(f"status line: {show(code)} is not a status code 100-699")
    return int(code), reason


def _request_line(start: str) -> tuple[str, Uri]:
    parts = start.split(" ")
    if len(parts) != 3 or not all(parts):
        raise SipParseError(
            f"request line {show(start, 80)} is not 'METHOD SP Request-URI SP SIP/2.0'"
        )
    method, uri_text, version = parts
    _check_version(version)
    if not is_token(method):
        raise SipParseError(f"request line: invalid method {show(method)}")
    uri = parse_uri(uri_text, "Request-URI")
    if isinstance(uri, SipUri) and uri.headers:
        raise SipParseError("Request-URI: a SIP Request-URI must not carry headers ('?...')")
    return method, uri


def parse(data: bytes) -> Message:
    """One SIP message from ``data`` (a datagram, or a message a stream framer delimited)."""
    lines, rest = _split_head(data)
    start = lines[0]
    is_response = start[:4].upper() == "SIP/"
    status_line = _status_line(start) if is_response else None
    request_line = None if is_response else _request_line(start)
    single, lists, headers = _typed(_unfold(lines[1:]))
    call_id = single["Call-ID"]
    if not call_id or any(c in WHITESPACE for c in call_id):
        raise SipParseError(f"Call-ID: {show(call_id)} is empty or has spaces")
    via = [Via.parse(value) for value in lists["Via"]]
    from_ = NameAddr.parse(single["From"], "From")
    to = NameAddr.parse(single["To"], "To")
    cseq = CSeq.parse(single["CSeq"])
    contact = [NameAddr.parse(value, "Contact") for value in lists["Contact"]]
    record_route = [NameAddr.parse(value, "Record-Route") for value in lists["Record-Route"]]
    body = _body(single, rest)
    if status_line is not None:
        status, reason = status_line
        return Response(
            via=via, from_=from_, to=to, call_id=call_id, cseq=cseq, contact=contact,
            record_route=record_route, headers=headers, body=body, status=status, reason=reason,
        )  # fmt: skip
    assert request_line is not None
    method, uri = request_line
    if cseq.method != method:
        raise SipParseError(f"CSeq method {cseq.method!r} does not match the method {method!r}")
    hops = single.get("Max-Forwards")
    return Request(
        via=via, from_=from_, to=to, call_id=call_id, cseq=cseq, contact=contact,
        record_route=record_route, headers=headers, body=body, method=method, uri=uri,
        max_forwards=None if hops is None else parse_uint(hops, "Max-Forwards", 255),
        route=[NameAddr.parse(value, "Route") for value in lists["Route"]],
    )  # fmt: skip


_ECHOED = ("Via", "From", "To", "Call-ID", "CSeq")


def bad_request_for(data: bytes, error: SipParseError) -> bytes | None:
    """The response a UAS sends for a request that did not parse: ``error``'s status, its
    reason as the phrase, and the Via, From, To, Call-ID and CSeq lines copied as they came
    (RFC 3261 §8.2.6), so the client's transaction sees it. None for a response or an ACK
    (never answered) or when no Via and CSeq can be found to address it."""
    stripped = data.lstrip(b"\r\n")
    start, _, rest = stripped.partition(b"\r\n")
    if start[:4].upper() == b"SIP/" or start.startswith(b"ACK "):
        return None
    head = rest.split(b"\r\n\r\n", 1)[0][:MAX_MESSAGE_BYTES].decode("latin-1")
    kept: list[tuple[str, str]] = []
    for line in head.split("\r\n"):
        if line[:1] in (" ", "\t") and kept:
            kept[-1] = (kept[-1][0], kept[-1][1] + " " + line.strip(WHITESPACE))
            continue
        name, colon, value = line.partition(":")
        name = canonical_name(name.strip(WHITESPACE))
        if colon and name in _ECHOED and len(kept) < MAX_HEADER_FIELDS:
            kept.append((name, value.strip(WHITESPACE)))
    names = {name for name, _ in kept}
    if "Via" not in names or "CSeq" not in names:
        return None
    lines = [f"SIP/2.0 {error.status} {error.reason_phrase}"]
    for name, value in kept:
        if name == "To" and "tag=" not in value.lower():
            value += f";tag={new_tag()}"
        lines.append(f"{name}: {value}")
    lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", errors="replace")
