"""An encoder of AWS event-stream frames (``application/vnd.amazon.eventstream``).

Written from the framing in PROTOCOLS 5.3, not from botocore, so botocore's decoder checks it:

    total_length u32 BE | headers_length u32 BE | prelude_crc u32 BE (CRC32 of the first 8 bytes)
    headers (name_len u8, name, type u8, value; type 7 = string with a u16 BE length)
    payload | message_crc u32 BE (CRC32 of everything before it)
"""

from __future__ import annotations

import binascii
import json
import struct
from typing import Any

STRING_HEADER = 7
# Prelude (two lengths and its CRC) plus the message CRC.
_FRAME_OVERHEAD = 16


def _crc32(data: bytes) -> int:
    return binascii.crc32(data) & 0xFFFFFFFF


def encode_headers(headers: dict[str, str]) -> bytes:
    """Headers as string-typed (type 7) header records, in the given order."""
    out = bytearray()
    for name, value in headers.items():
        name_bytes, value_bytes = name.encode(), value.encode()
        out += struct.pack(">B", len(name_bytes)) + name_bytes
        out += struct.pack(">BH", STRING_HEADER, len(value_bytes)) + value_bytes
    return bytes(out)


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One complete frame: prelude, prelude CRC, headers, payload, message CRC."""
    header_bytes = encode_headers(headers)
    total_length = _FRAME_OVERHEAD + len(header_bytes) + len(payload)
    prelude = struct.pack(">II", total_length, len(header_bytes))
    body = prelude + struct.pack(">I", _crc32(prelude)) + header_bytes + payload
    return body + struct.pack(">I", _crc32(body))


def _json(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def event_frame(event_type: str, payload: dict[str, Any]) -> bytes:
    """An event of the stream's union (``contentBlockDelta``...), payload without wrapper key."""
    headers = {
        ":event-type": event_type,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return encode_message(headers, _json(payload))


def exception_frame(exception_type: str, message: str) -> bytes:
    """A modelled error inside the stream (``throttlingException``...), as Bedrock sends it."""
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_message(headers, _json({"message": message}))
