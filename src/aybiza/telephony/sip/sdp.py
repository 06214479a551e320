"""SDP (RFC 4566): a session description as dataclasses, parsed from and serialized to text.

Parsing is strict where meaning depends on it (``v=0`` first, exactly one ``o=`` and ``s=``
before any media, well-formed ``o=``/``c=``/``m=``/``t=`` lines, known type letters, as §5
requires) and lenient where senders differ harmlessly (line order within a level, bare LF line
ends, a missing ``t=``). Serializing writes the RFC's order with CRLF line ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aybiza.telephony.sip.media_error import MediaFormatError

Direction = Literal["sendrecv", "sendonly", "recvonly", "inactive"]
DIRECTIONS: tuple[Direction, ...] = ("sendrecv", "sendonly", "recvonly", "inactive")
MAX_SDP_BYTES = 16 * 1024  # far above any real audio offer; bounds the work on hostile input
_SESSION_TEXT = "iuep"  # single-valued or repeated text lines kept as received
_TYPES = set("vostiuepcbtrzkam")


class SdpError(MediaFormatError):
    """A session description is not valid; ``field`` names the line type that is wrong."""


@dataclass(frozen=True, slots=True)
class Origin:
    """``o=``: who made the description; ``session_version`` grows with each change."""

    username: str = "-"
    session_id: str = "0"
    session_version: int = 0
    net_type: str = "IN"
    addr_type: str = "IP4"
    address: str = "0.0.0.0"


@dataclass(frozen=True, slots=True)
class Connection:
    """``c=``: where media goes."""

    address: str
    net_type: str = "IN"
    addr_type: str = "IP4"

    @classmethod
    def for_address(cls, address: str) -> Connection:
        """The connection line for an IPv4 or IPv6 address."""
        return cls(address, "IN", "IP6" if ":" in address else "IP4")

    @property
    def unspecified(self) -> bool:
        """0.0.0.0 (or ::): the RFC 2543 way to say "send me nothing" (a hold)."""
        return self.address in ("0.0.0.0", "::")


@dataclass(frozen=True, slots=True)
class Timing:
    """``t=`` with its ``r=`` lines."""

    start: int = 0
    stop: int = 0
    repeats: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Attribute:
    """``a=name`` or ``a=name:value``."""

    name: str
    value: str | None = None


@dataclass(frozen=True, slots=True)
class RtpMap:
    """A payload type's encoding (``a=rtpmap``, or the static table of RFC 3551)."""

    payload_type: int
    encoding: str
    clock_rate: int
    channels: int = 1


# RFC 3551 Table 4: static payload types this endpoint can name without an rtpmap.
STATIC_PAYLOAD_TYPES = {0: RtpMap(0, "PCMU", 8000), 8: RtpMap(8, "PCMA", 8000)}


def _attribute_values(attributes: tuple[Attribute, ...], name: str) -> list[str]:
    return [a.value or "" for a in attributes if a.name == name]


def _explicit_direction(attributes: tuple[Attribute, ...]) -> Direction | None:
    for attribute in attributes:
        if attribute.name in DIRECTIONS:
            return attribute.name
    return None


@dataclass(frozen=True, slots=True)
class Media:
    """One ``m=`` section."""

    kind: str
    port: int
    proto: str
    formats: tuple[str, ...]
    port_count: int | None = None
    info: str | None = None
    connection: Connection | None = None
    bandwidths: tuple[str, ...] = ()
    key: str | None = None
    attributes: tuple[Attribute, ...] = ()

    def values(self, name: str) -> list[str]:
        """The values of every attribute called ``name``."""
        return _attribute_values(self.attributes, name)

    @property
    def payload_types(self) -> tuple[int, ...]:
        """The formats as RTP payload types (RTP profiles only)."""
        return tuple(int(f) for f in self.formats if f.isdigit() and int(f) <= 127)

    def rtpmap(self, payload_type: int) -> RtpMap | None:
        """The encoding of ``payload_type``: its ``a=rtpmap``, else the static assignment."""
        for value in self.values("rtpmap"):
            number, _, encoding = value.partition(" ")
            if number.strip() != str(payload_type):
                continue
            parts = encoding.strip().split("/")
            if len(parts) < 2 or not parts[1].isdigit():
                raise SdpError(f"a=rtpmap:{value} is not 'PT name/rate[/channels]'", "a=rtpmap")
            channels = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else 1
            return RtpMap(payload_type, parts[0], int(parts[1]), channels)
        return STATIC_PAYLOAD_TYPES.get(payload_type)

    def fmtp(self, payload_type: int) -> str | None:
        """The format parameters of ``payload_type`` (``a=fmtp``)."""
        for value in self.values("fmtp"):
            number, _, parameters = value.partition(" ")
            if number == str(payload_type):
                return parameters.strip()
        return None

    @property
    def direction(self) -> Direction | None:
        """The direction attribute of this section, if it has one."""
        return _explicit_direction(self.attributes)


@dataclass(frozen=True, slots=True)
class SessionDescription:
    """A whole SDP body. ``other`` keeps ``i= u= e= p=`` lines as (type, value)."""

    origin: Origin
    media: tuple[Media, ...] = ()
    name: str = "-"
    connection: Connection | None = None
    timing: tuple[Timing, ...] = (Timing(),)
    version: int = 0
    other: tuple[tuple[str, str], ...] = ()
    bandwidths: tuple[str, ...] = ()
    timezones: str | None = None
    key: str | None = None
    attributes: tuple[Attribute, ...] = ()

    def direction_of(self, media: Media) -> Direction:
        """A section's direction: its own attribute, else the session's, else sendrecv."""
        return media.direction or _explicit_direction(self.attributes) or "sendrecv"

    def connection_of(self, media: Media) -> Connection | None:
        """A section's connection: its own ``c=``, else the session's."""
        return media.connection or self.connection

    @classmethod
    def parse(cls, data: bytes | str) -> SessionDescription:
        """Read an SDP body."""
        if isinstance(data, bytes):
            if len(data) > MAX_SDP_BYTES:
                raise SdpError(f"an SDP body over {MAX_SDP_BYTES} bytes is refused", "body")
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise SdpError(f"SDP must be UTF-8 text: {exc}", "body") from exc
        lines = [line.rstrip("\r") for line in data.split("\n")]
        while lines and not lines[-1]:
            lines.pop()
        return _Parser().run(lines)

    def serialize(self) -> bytes:
        """The body as sent, CRLF line ends."""
        o = self.origin
        out = [
            f"v={self.version}",
            f"o={o.username} {o.session_id} {o.session_version} {o.net_type} "
            f"{o.addr_type} {o.address}",
            f"s={self.name or ' '}",
        ]
        out += [f"{kind}={value}" for kind, value in self.other]
        if self.connection is not None:
            out.append(_connection_line(self.connection))
        out += [f"b={b}" for b in self.bandwidths]
        for timing in self.timing:
            out.append(f"t={timing.start} {timing.stop}")
            out += [f"r={r}" for r in timing.repeats]
        out += [f"z={self.timezones}"] if self.timezones else []
        out += [f"k={self.key}"] if self.key else []
        out += [_attribute_line(a) for a in self.attributes]
        for media in self.media:
            count = f"/{media.port_count}" if media.port_count is not None else ""
            out.append(
                f"m={media.kind} {media.port}{count} {media.proto} {' '.join(media.formats)}"
            )
            out += [f"i={media.info}"] if media.info is not None else []
            if media.connection is not None:
                out.append(_connection_line(media.connection))
            out += [f"b={b}" for b in media.bandwidths]
            out += [f"k={media.key}"] if media.key else []
            out += [_attribute_line(a) for a in media.attributes]
        return ("\r\n".join(out) + "\r\n").encode("utf-8")


def _connection_line(c: Connection) -> str:
    return f"c={c.net_type} {c.addr_type} {c.address}"


def _attribute_line(a: Attribute) -> str:
    return f"a={a.name}" if a.value is None else f"a={a.name}:{a.value}"


def _port(text: str, line: str) -> tuple[int, int | None]:
    port, _, count = text.partition("/")
    if not port.isdigit() or int(port) > 65535 or (count and not count.isdigit()):
        raise SdpError(f"'{line}' has no valid port", "m=")
    return int(port), int(count) if count else None


class _Parser:
    """Reads lines into a SessionDescription, one level (session, then each m=) at a time."""

    def __init__(self) -> None:
        self.session: dict[str, list[str]] = {}
        self.media: list[tuple[str, dict[str, list[str]]]] = []
        self.timing: list[Timing] = []

    def run(self, lines: list[str]) -> SessionDescription:
        if not lines or lines[0] != "v=0":
            raise SdpError("an SDP body starts with v=0", "v=")
        for line in lines[1:]:
            kind, equals, value = line.partition("=")
            if len(kind) != 1 or not equals or kind not in _TYPES:
                raise SdpError(f"'{line[:40]}' is not an SDP line ('x=value')", kind[:1] or "=")
            if kind == "m":
                self.media.append((value, {}))
            elif kind == "v":
                raise SdpError("v= may appear only once, first", "v=")
            elif self.media:
                self.media[-1][1].setdefault(kind, []).append(value)
            elif kind == "t":
                self.timing.append(self._timing(value))
            elif kind == "r":
                if not self.timing:
                    raise SdpError("r= must follow a t= line", "r=")
                last = self.timing[-1]
                self.timing[-1] = Timing(last.start, last.stop, (*last.repeats, value))
            else:
                self.session.setdefault(kind, []).append(value)
        return self._build()

    @staticmethod
    def _timing(value: str) -> Timing:
        parts = value.split()
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise SdpError(f"t={value} is not 't=<start> <stop>'", "t=")
        return Timing(int(parts[0]), int(parts[1]))

    @staticmethod
    def _one(lines: dict[str, list[str]], kind: str) -> str | None:
        values = lines.get(kind, [])
        if len(values) > 1:
            raise SdpError(f"{kind}= may appear only once here", f"{kind}=")
        return values[0] if values else None

    def _build(self) -> SessionDescription:
        s = self.session
        origin_line, name = self._one(s, "o"), self._one(s, "s")
        if origin_line is None:
            raise SdpError("an SDP body needs an o= line", "o=")
        if name is None:
            raise SdpError("an SDP body needs an s= line", "s=")
        parts = origin_line.split()
        if len(parts) != 6 or not parts[2].isdigit():
            raise SdpError(f"o={origin_line} is not 'o=user id version IN IP4 address'", "o=")
        return SessionDescription(
            origin=Origin(parts[0], parts[1], int(parts[2]), parts[3], parts[4], parts[5]),
            media=tuple(self._media(m, lines) for m, lines in self.media),
            name=name,
            connection=self._connection(s),
            timing=tuple(self.timing) or (Timing(),),
            other=tuple((k, v) for k in _SESSION_TEXT for v in s.get(k, [])),
            bandwidths=tuple(s.get("b", [])),
            timezones=self._one(s, "z"),
            key=self._one(s, "k"),
            attributes=self._attributes(s),
        )

    def _connection(self, lines: dict[str, list[str]]) -> Connection | None:
        value = self._one(lines, "c")
        if value is None:
            return None
        parts = value.split()
        if len(parts) != 3:
            raise SdpError(f"c={value} is not 'c=IN IP4 address'", "c=")
        return Connection(parts[2], parts[0], parts[1])

    @staticmethod
    def _attributes(lines: dict[str, list[str]]) -> tuple[Attribute, ...]:
        out = []
        for value in lines.get("a", []):
            name, colon, rest = value.partition(":")
            if not name:
                raise SdpError(f"a={value} has no attribute name", "a=")
            out.append(Attribute(name, rest if colon else None))
        return tuple(out)

    def _media(self, line: str, lines: dict[str, list[str]]) -> Media:
        parts = line.split()
        if len(parts) < 4:
            raise SdpError(f"m={line} is not 'm=media port proto format...'", "m=")
        port, count = _port(parts[1], f"m={line}")
        for kind in lines:
            if kind not in "icbka":
                raise SdpError(f"{kind}= is not allowed in a media section", f"{kind}=")
        return Media(
            kind=parts[0],
            port=port,
            proto=parts[2],
            formats=tuple(parts[3:]),
            port_count=count,
            info=self._one(lines, "i"),
            connection=self._connection(lines),
            bandwidths=tuple(lines.get("b", [])),
            key=self._one(lines, "k"),
            attributes=self._attributes(lines),
        )
