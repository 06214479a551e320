"""Twilio Media Streams JSON from Twilio's side of the socket (PROTOCOLS 2.2, 2.3).

Builds the messages Twilio sends (``connected``, ``start``, ``media``, ``dtmf``, ``mark``, ``stop``)
and decodes the ones an application sends back (``media``, ``mark``, ``clear``). The WebSocket
plumbing lives in ``twilio_client``; this module knows only the wire format.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aybiza.audio.codec import SAMPLE_RATE_HZ

DTMF_DIGITS = frozenset("0123456789*#")


def connected() -> str:
    """The first message of every stream; it carries no sequence number."""
    return json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})


def encode(event: str, sequence_number: int, stream_sid: str, body: Mapping[str, Any]) -> str:
    """A message after ``connected``: the event, its string sequence number, the stream SID and
    the event's body members (``start``, ``media``...)."""
    message: dict[str, Any] = {
        "event": event,
        "sequenceNumber": str(sequence_number),
        "streamSid": stream_sid,
    }
    message.update(body)
    return json.dumps(message, separators=(",", ":"))


def start_body(
    *,
    stream_sid: str,
    account_sid: str,
    call_sid: str,
    custom_parameters: Mapping[str, str],
) -> dict[str, Any]:
    """Body of ``start``: who the call is, the inbound track and its μ-law 8 kHz format."""
    return {
        "start": {
            "accountSid": account_sid,
            "streamSid": stream_sid,
            "callSid": call_sid,
            "tracks": ["inbound"],
            "mediaFormat": {
                "encoding": "audio/x-mulaw",
                "sampleRate": SAMPLE_RATE_HZ,
                "channels": 1,
            },
            "customParameters": dict(custom_parameters),
        }
    }


def media_body(*, chunk: int, timestamp_ms: int, payload: bytes) -> dict[str, Any]:
    """Body of an inbound ``media`` frame; chunk and timestamp are strings on the wire."""
    return {
        "media": {
            "track": "inbound",
            "chunk": str(chunk),
            "timestamp": str(timestamp_ms),
            "payload": base64.b64encode(payload).decode("ascii"),
        }
    }


def dtmf_body(digit: str) -> dict[str, Any]:
    """Body of ``dtmf`` for one key press (``0``-``9``, ``*`` or ``#``)."""
    if digit not in DTMF_DIGITS:
        raise ValueError(f"a DTMF digit is one of 0-9, * or #; received {digit!r}")
    return {"dtmf": {"track": "inbound_track", "digit": digit}}


def mark_body(name: str) -> dict[str, Any]:
    """Body of a ``mark`` echo: the name the application gave the mark."""
    return {"mark": {"name": name}}


def stop_body(*, account_sid: str, call_sid: str) -> dict[str, Any]:
    """Body of ``stop``, sent when the caller hangs up."""
    return {"stop": {"accountSid": account_sid, "callSid": call_sid}}


@dataclass(frozen=True, slots=True)
class AgentMedia:
    """Audio for the caller to hear: raw μ-law 8 kHz, any length."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class AgentMark:
    """A marker to echo once the audio queued before it has played."""

    name: str


@dataclass(frozen=True, slots=True)
class AgentClear:
    """Drop all queued audio now."""


AgentMessage = AgentMedia | AgentMark | AgentClear


class WireError(ValueError):
    """A message from the application that Twilio would reject (its error 31924)."""


def decode(data: str | bytes, stream_sid: str) -> AgentMessage:
    """Decode one message from the application; raise WireError naming what is wrong."""
    if isinstance(data, bytes):
        raise WireError(f"binary frame of {len(data)} bytes: Media Streams carries JSON text only")
    try:
        message = json.loads(data)
    except json.JSONDecodeError as exc:
        raise WireError(f"not JSON ({exc}): {data[:120]!r}") from exc
    if not isinstance(message, dict):
        raise WireError(f"a message must be a JSON object, received {data[:120]!r}")
    event = message.get("event")
    if message.get("streamSid") != stream_sid:
        raise WireError(
            f"{event!r} message has streamSid {message.get('streamSid')!r}, "
            f"expected this stream's {stream_sid!r}"
        )
    if event == "media":
        payload = _member(message, "media").get("payload")
        if not isinstance(payload, str):
            raise WireError(f"media.payload must be a base64 string, received {payload!r:.80}")
        try:
            return AgentMedia(base64.b64decode(payload, validate=True))
        except binascii.Error as exc:
            raise WireError(f"media.payload is not valid base64: {exc}") from exc
    if event == "mark":
        name = _member(message, "mark").get("name")
        if not isinstance(name, str):
            raise WireError(f"mark.name must be a string, received {name!r}")
        return AgentMark(name)
    if event == "clear":
        return AgentClear()
    raise WireError(f"unknown event {event!r}; an application sends media, mark or clear")


def _member(message: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = message.get(key)
    if not isinstance(value, dict):
        raise WireError(f"{key!r} message needs an object member {key!r}, received {value!r:.80}")
    return value
