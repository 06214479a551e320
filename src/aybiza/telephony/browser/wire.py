"""The browser call's wire format (``WS /web/call``), parse and serialize only.

Binary messages are audio both ways: μ-law, 8 kHz, mono (the browser sends 20 ms frames of
160 bytes; the server sends pieces of any length). Text messages are JSON control messages:

server to browser
    ``{"type": "start", "call_id", "format": "mulaw", "sample_rate": 8000, "frame_ms": 20}``
    ``{"type": "mark", "name"}``: echo ``name`` once the audio before it has played
    ``{"type": "clear"}``: drop all audio not yet played (the caller interrupted)
    ``{"type": "transcript", "speaker": "caller"|"agent", "text"}``: a line as it is stored
    ``{"type": "end", "reason"}``: the call is over (the socket closes after it)
browser to server
    ``{"type": "mark", "name"}``, ``{"type": "dtmf", "digit"}``, ``{"type": "hangup"}``
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from aybiza.audio.codec import FRAME_MS, SAMPLE_RATE_HZ

DIGITS = frozenset("0123456789*#ABCD")
MAX_NAME = 100


class WireError(ValueError):
    """A text message that is not one of the browser's control messages (says why)."""


@dataclass(frozen=True, slots=True)
class Mark:
    name: str


@dataclass(frozen=True, slots=True)
class Dtmf:
    digit: str


@dataclass(frozen=True, slots=True)
class Hangup:
    """The caller pressed hang up."""


BrowserEvent = Mark | Dtmf | Hangup


def parse_control(text: str) -> BrowserEvent:
    """One control message from the browser."""
    try:
        message = json.loads(text)
    except ValueError as exc:
        raise WireError(f"not JSON: {exc}") from exc
    if not isinstance(message, dict):
        raise WireError("a control message is a JSON object")
    kind = message.get("type")
    if kind == "hangup":
        return Hangup()
    if kind == "mark":
        name = message.get("name")
        if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME:
            raise WireError(f"mark.name: a string of 1 to {MAX_NAME} characters expected")
        return Mark(name)
    if kind == "dtmf":
        digit = message.get("digit")
        if not isinstance(digit, str) or digit not in DIGITS:
            raise WireError("dtmf.digit: one of 0-9, *, #, A-D expected")
        return Dtmf(digit)
    raise WireError(f"type: one of mark, dtmf, hangup expected, got {kind!r}")


def start_message(call_id: str) -> str:
    return json.dumps(
        {
            "type": "start",
            "call_id": call_id,
            "format": "mulaw",
            "sample_rate": SAMPLE_RATE_HZ,
            "frame_ms": FRAME_MS,
        }
    )


def mark_message(name: str) -> str:
    return json.dumps({"type": "mark", "name": name})


def clear_message() -> str:
    return json.dumps({"type": "clear"})


def transcript_message(speaker: str, text: str) -> str:
    return json.dumps({"type": "transcript", "speaker": speaker, "text": text})


def end_message(reason: str) -> str:
    return json.dumps({"type": "end", "reason": reason})
