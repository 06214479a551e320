"""G.711 A-law (PCMA): decoding, and direct conversion to and from μ-law (PCMU) by table.

SIP trunks in Europe and the UK often offer only PCMA, while the call loop and Deepgram speak
μ-law. G.711 defines the direct conversion between the two laws (Table 3/G.711, μ-law to A-law,
and Table 4/G.711, A-law to μ-law), so audio is converted byte for byte with ``bytes.translate``:
no linear intermediate, no second quantisation, one C-speed pass per packet.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

SILENCE_BYTE = 0xD5  # A-law has no zero level; 0xD5 is +8/32768, what an encoder makes of 0

# The two G.711 conversion tables, on magnitude levels 0..127 (0 the smallest magnitude) so
# that one table serves both signs. A μ-law byte's level is ``(byte ^ 0x7F) & 0x7F``, an A-law
# byte's ``(byte ^ 0x55) & 0x7F``; in both laws the top bit of the byte is the sign, set for
# positive values, and a conversion keeps it. Widely copied C versions of these tables carry
# two wrong entries (μ level 80 -> A 80, A level 79 -> μ 79); the values here are the standard's.
_MU_TO_A_LEVEL: tuple[int, ...] = (
    *(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7),
    *range(8, 24),
    *(24, 26, 28, 30, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43),
    *(45, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61),
    *range(63, 79),
    *(79, *range(81, 96)),
    *range(96, 112),
    *range(112, 128),
)
_A_TO_MU_LEVEL: tuple[int, ...] = (
    *(1, 3, 5, 7, 9, 11, 13, 15, 16, 17, 18, 19, 20, 21, 22, 23),
    *(24, 25, 26, 27, 28, 29, 30, 31, 32, 32, 33, 33, 34, 34, 35, 35),
    *(36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 48, 49, 49),
    *(50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 64),
    *(65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80),
    *range(80, 96),
    *range(96, 112),
    *range(112, 128),
)


def _mu_to_a(mu: int) -> int:
    level = _MU_TO_A_LEVEL[(mu ^ 0x7F) & 0x7F]
    return (level | (mu & 0x80)) ^ 0x55


def _a_to_mu(a: int) -> int:
    level = _A_TO_MU_LEVEL[(a ^ 0x55) & 0x7F]
    return (level ^ 0x7F) | (a & 0x80)


def _decode_byte(a: int) -> int:
    value = a ^ 0x55
    exponent = (value >> 4) & 0x07
    mantissa = value & 0x0F
    # Segment 0 is linear from 8; segment e >= 1 starts at 0x108 << (e - 1).
    magnitude = (
        (mantissa << 4) + 8 if exponent == 0 else ((mantissa << 4) + 0x108) << (exponent - 1)
    )
    return magnitude if value & 0x80 else -magnitude


# 256-byte tables for ``bytes.translate``.
ULAW_TO_ALAW = bytes(_mu_to_a(mu) for mu in range(256))
ALAW_TO_ULAW = bytes(_a_to_mu(a) for a in range(256))
DECODE_TABLE: npt.NDArray[np.int16] = np.array([_decode_byte(a) for a in range(256)], np.int16)


def alaw_to_ulaw(data: bytes | bytearray) -> bytes:
    """Convert A-law bytes to μ-law bytes (G.711 Table 4)."""
    return bytes(data.translate(ALAW_TO_ULAW))


def ulaw_to_alaw(data: bytes | bytearray) -> bytes:
    """Convert μ-law bytes to A-law bytes (G.711 Table 3)."""
    return bytes(data.translate(ULAW_TO_ALAW))


def alaw_to_pcm16(data: bytes) -> bytes:
    """Decode A-law bytes to little-endian signed 16-bit PCM at the same rate."""
    return DECODE_TABLE[np.frombuffer(data, np.uint8)].tobytes()
