"""G.711 μ-law codec by table lookup.

Twilio and Deepgram both speak μ-law 8 kHz, so audio stays μ-law end to end. Linear PCM is
only made where an algorithm needs it (VAD, the embedded recogniser), with a 256-entry decode
table and a 65,536-entry encode table built once at import: no per-sample arithmetic in Python.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

SAMPLE_RATE_HZ = 8000
FRAME_MS = 20
FRAME_BYTES = SAMPLE_RATE_HZ * FRAME_MS // 1000  # 160 μ-law bytes per 20 ms frame
SILENCE_BYTE = 0xFF

_BIAS = 0x84


def _decode_byte(u: int) -> int:
    u = ~u & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = ((mantissa << 3) + _BIAS) << exponent
    magnitude -= _BIAS
    return -magnitude if sign else magnitude


_SEGMENT_ENDS = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)


def _encode_sample(sample: int) -> int:
    # The 14-bit G.711 encoder (as in CPython's audioop), so our output is bit-identical to it.
    value = sample >> 2
    if value < 0:
        value, mask = -value, 0x7F
    else:
        mask = 0xFF
    value = min(value, 8159) + 0x21
    segment = next((i for i, end in enumerate(_SEGMENT_ENDS) if value <= end), 8)
    if segment >= 8:
        return 0x7F ^ mask
    return ((segment << 4) | ((value >> (segment + 1)) & 0x0F)) ^ mask


DECODE_TABLE: npt.NDArray[np.int16] = np.array([_decode_byte(u) for u in range(256)], np.int16)
# Indexed by the int16 sample reinterpreted as uint16.
ENCODE_TABLE: npt.NDArray[np.uint8] = np.array(
    [_encode_sample(s - 65536 if s >= 32768 else s) for s in range(65536)], np.uint8
)


def ulaw_to_pcm16(data: bytes) -> bytes:
    """Decode μ-law bytes to little-endian signed 16-bit PCM at the same rate."""
    return DECODE_TABLE[np.frombuffer(data, np.uint8)].tobytes()


def ulaw_to_array(data: bytes) -> npt.NDArray[np.int16]:
    """Decode μ-law bytes to an int16 array."""
    return DECODE_TABLE[np.frombuffer(data, np.uint8)]


def pcm16_to_ulaw(data: bytes | npt.NDArray[np.int16]) -> bytes:
    """Encode signed 16-bit PCM (bytes or int16 array) to μ-law bytes."""
    samples = np.frombuffer(data, np.int16) if isinstance(data, bytes | bytearray) else data
    return ENCODE_TABLE[samples.view(np.uint16)].tobytes()


def silence(duration_ms: int) -> bytes:
    """μ-law silence of the given length."""
    return bytes([SILENCE_BYTE]) * (SAMPLE_RATE_HZ * duration_ms // 1000)
