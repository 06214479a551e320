"""Twilio Media Streams wire format: JSON text messages to typed events and back.

The WebSocket plumbing does not know this format and this module does not know sockets, so a
second carrier is a second wire module, not a fork of the call loop.
"""

from __future__ import annotations

import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any


class WireError(ValueError):
    """A message that is not valid Media Streams JSON; the message names what is wrong."""


@dataclass(frozen=True, slots=True)
class Connected:
    protocol: str
    version: str


@dataclass(frozen=True, slots=True)
class Start:
    stream_sid: str
    call_sid: str
    account_sid: str
    tracks: tuple[str, ...]
    encoding: str
    sample_rate: int
    channels: int
    custom_parameters: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Media:
    """One inbound audio frame. Not frozen, unlike the other events: fifty are made a second
    per call, and a frozen dataclass sets each field through ``object.__setattr__`` (about
    five times the cost of this constructor)."""

    payload: bytes
    track: str = "inbound"
    chunk: int | None = None
    timestamp_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Dtmf:
    digit: str


@dataclass(frozen=True, slots=True)
class Mark:
    name: str


@dataclass(frozen=True, slots=True)
class Stop:
    call_sid: str | None


InboundEvent = Connected | Start | Media | Dtmf | Mark | Stop

_DIGITS = frozenset("0123456789*#ABCD")
# Stream SIDs are "MZ" + 32 hex today; older logs show UUIDs. Only forbid what could break JSON.
_SID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WireError(f"{path}: expected an object, got {type(value).__name__}")
    return value


def _string(obj: dict[str, Any], key: str, path: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise WireError(f"{path}.{key}: expected a non-empty string, got {value!r:.60}")
    return value


def _optional_int(obj: dict[str, Any], key: str) -> int | None:
    value = obj.get(key)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value if isinstance(value, int) else None


_MEDIA_EVENT = '"event":"media"'
_PAYLOAD_KEY = '"payload":"'


def _fast_media(text: str) -> Media | None:
    """``media`` is 50 messages a second per call: read its payload without a JSON parse when
    the message has Twilio's compact shape; anything else takes the full parse."""
    if _MEDIA_EVENT not in text or not text.endswith("}"):
        return None
    start = text.find(_PAYLOAD_KEY)
    if start < 0:
        return None
    start += len(_PAYLOAD_KEY)
    end = text.find('"', start)
    if end < 0:
        return None
    try:
        payload = binascii.a2b_base64(text[start:end], strict_mode=True)
    except binascii.Error as exc:
        raise WireError(f"media.payload: not base64 ({exc})") from None
    if not payload:
        raise WireError("media.payload: expected a non-empty string, got ''")
    return Media(payload)


def parse_message(text: str | bytes) -> InboundEvent:
    """Parse one Media Streams message from Twilio; raise ``WireError`` naming the bad field."""
    if isinstance(text, bytes):
        raise WireError("binary frame: Media Streams messages are JSON text frames")
    fast = _fast_media(text)
    if fast is not None:
        return fast
    try:
        message = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WireError(f"not JSON: {exc.msg} at position {exc.pos}") from None
    except UnicodeDecodeError:
        raise WireError("not JSON: invalid UTF-8") from None
    message = _object(message, "message")
    event = message.get("event")
    if event == "media":
        media = _object(message.get("media"), "media")
        try:
            payload = binascii.a2b_base64(_string(media, "payload", "media"), strict_mode=True)
        except binascii.Error as exc:
            raise WireError(f"media.payload: not base64 ({exc})") from None
        return Media(
            payload=payload,
            track=str(media.get("track", "inbound")),
            chunk=_optional_int(media, "chunk"),
            timestamp_ms=_optional_int(media, "timestamp"),
        )
    if event == "mark":
        return Mark(_string(_object(message.get("mark"), "mark"), "name", "mark"))
    if event == "dtmf":
        digit = _string(_object(message.get("dtmf"), "dtmf"), "digit", "dtmf")
        if digit not in _DIGITS:
            raise WireError(f"dtmf.digit: expected one of 0-9 * # A-D, got {digit!r:.10}")
        return Dtmf(digit)
    if event == "start":
        return _parse_start(message)
    if event == "stop":
        stop = message.get("stop")
        call_sid = stop.get("callSid") if isinstance(stop, dict) else None
        return Stop(call_sid if isinstance(call_sid, str) else None)
    if event == "connected":
        return Connected(str(message.get("protocol", "")), str(message.get("version", "")))
    raise WireError(f"event: unknown event {event!r:.40}")


def _parse_start(message: dict[str, Any]) -> Start:
    start = _object(message.get("start"), "start")
    stream_sid = _string(start, "streamSid", "start")
    if not _SID.match(stream_sid):
        raise WireError(f"start.streamSid: unexpected characters in {stream_sid!r:.70}")
    media_format = _object(start.get("mediaFormat", {}), "start.mediaFormat")
    encoding = str(media_format.get("encoding", "audio/x-mulaw"))
    sample_rate = media_format.get("sampleRate", 8000)
    if encoding != "audio/x-mulaw" or sample_rate != 8000:
        raise WireError(
            f"start.mediaFormat: expected audio/x-mulaw at 8000 Hz, got {encoding} at {sample_rate}"
        )
    params = start.get("customParameters") or {}
    if not isinstance(params, dict):
        raise WireError("start.customParameters: expected an object of strings")
    tracks = start.get("tracks", ["inbound"])
    return Start(
        stream_sid=stream_sid,
        call_sid=_string(start, "callSid", "start"),
        account_sid=str(start.get("accountSid", "")),
        tracks=tuple(str(t) for t in tracks) if isinstance(tracks, list) else ("inbound",),
        encoding=encoding,
        sample_rate=int(sample_rate),
        channels=int(media_format.get("channels", 1)),
        custom_parameters={str(k): str(v) for k, v in params.items()},
    )


# Outbound messages are formatted directly: the stream SID was validated on `start`, base64 and
# mark names (ours) hold no characters that need JSON escaping, and this runs for every chunk.


def media_message(stream_sid: str, mulaw: bytes) -> str:
    payload = binascii.b2a_base64(mulaw, newline=False).decode("ascii")
    return f'{{"event":"media","streamSid":"{stream_sid}","media":{{"payload":"{payload}"}}}}'


def mark_message(stream_sid: str, name: str) -> str:
    return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear_message(stream_sid: str) -> str:
    return f'{{"event":"clear","streamSid":"{stream_sid}"}}'
