"""A crowd caller's Twilio media-stream messages, made cheap: the lines' frames base64-encoded
once per process (``Line``), and ``media`` and ``mark`` messages as bytes templates that give,
key for key, what ``aybiza.simulator.wire.encode`` writes; the agent's ``media`` read back
without a JSON parse."""

from __future__ import annotations

import binascii
import json
from dataclasses import dataclass

from aybiza.audio.codec import FRAME_BYTES, FRAME_MS, SILENCE_BYTE
from aybiza.simulator.caller_audio import SILENT_FRAME, last_voiced_frame

SILENCE_PAYLOAD = binascii.b2a_base64(SILENT_FRAME, newline=False)


@dataclass(frozen=True, slots=True)
class Line:
    """One scripted utterance, cut into 20 ms frames whose base64 payloads are ready to send."""

    payloads: tuple[bytes, ...]
    # Index of the frame that holds the end of speech: the answer's latency counts from its send.
    last_voiced: int


def prepare_line(mulaw: bytes) -> Line:
    """Pad ``mulaw`` (non-empty μ-law 8 kHz) to whole frames and base64-encode every frame."""
    if not mulaw:
        raise ValueError("a line needs audio")
    frames = -(-len(mulaw) // FRAME_BYTES)
    audio = mulaw + bytes([SILENCE_BYTE]) * (frames * FRAME_BYTES - len(mulaw))
    payloads = tuple(
        binascii.b2a_base64(audio[i : i + FRAME_BYTES], newline=False)
        for i in range(0, len(audio), FRAME_BYTES)
    )
    return Line(payloads, last_voiced_frame(mulaw))


def media_template(stream_sid: str) -> bytes:
    """The ``media`` message of one stream with ``%d`` for sequenceNumber, chunk and timestamp and
    ``%s`` for the payload: key for key what ``wire.encode("media", ...)`` writes."""
    return (
        '{"event":"media","sequenceNumber":"%d","streamSid":"'
        + stream_sid
        + '","media":{"track":"inbound","chunk":"%d","timestamp":"%d","payload":"%s"}}'
    ).encode()


def media_message(template: bytes, sequence_number: int, chunk: int, payload: bytes) -> bytes:
    """Inbound frame ``chunk`` (counted from 1) as message ``sequence_number``."""
    return template % (sequence_number, chunk, chunk * FRAME_MS, payload)


def mark_template(stream_sid: str) -> bytes:
    """The ``mark`` echo of one stream, as ``wire.encode("mark", ...)`` writes it, with ``%d``
    for the sequence number and ``%s`` for the JSON-encoded name."""
    return ('{"event":"mark","sequenceNumber":"%d","streamSid":"' + stream_sid).encode() + (
        b'","mark":{"name":%s}}'
    )


def mark_message(template: bytes, sequence_number: int, name: str) -> bytes:
    """The echo of mark ``name`` as message ``sequence_number``."""
    return template % (sequence_number, json.dumps(name).encode())


def media_byte_count(data: str, prefix: str) -> int | None:
    """Bytes of audio in a compact ``media`` message of this stream (the shape AYBIZA sends),
    without a JSON parse; None for any other message or an invalid payload (the full decode then
    reports it)."""
    if not data.startswith(prefix) or not data.endswith('"}}'):
        return None
    try:
        return len(binascii.a2b_base64(data[len(prefix) : -3], strict_mode=True))
    except binascii.Error:
        return None
