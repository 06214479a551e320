"""The μ-law codec against ITU-T G.711 written out independently here (its decision and output
levels, no bit tricks shared with the codec), and bit for bit against CPython's ``audioop``,
which Python 3.13 removed: its outputs are pinned by digest."""

import hashlib

import numpy as np
import numpy.typing as npt

from aybiza.audio.codec import (
    FRAME_BYTES,
    SILENCE_BYTE,
    pcm16_to_ulaw,
    silence,
    ulaw_to_array,
    ulaw_to_pcm16,
)

# G.711 μ-law codes a 14-bit magnitude in 8 segments (exponent e) of 16 steps (mantissa m).
# Code e*16+m covers the magnitudes from its decision level (2m+32)*2^e - 33 up to the next
# code's (G.711 Table 2a); its output is that interval's middle, (2m+33)*2^e - 33, on the
# 16-bit scale (times 4).
DECISION_LEVELS = np.array([((2 * m + 32) << e) - 33 for e in range(8) for m in range(16)])
MAX_MAGNITUDE = 8159  # the top of the last segment, 14-bit scale


def g711_decode(code: int) -> int:
    """The linear value of a μ-law byte (bits are sent inverted), 16-bit scale."""
    inverted = ~code & 0xFF
    sign, exponent, mantissa = inverted >> 7, (inverted >> 4) & 0x07, inverted & 0x0F
    magnitude = 4 * (((2 * mantissa + 33) << exponent) - 33)
    return -magnitude if sign else magnitude


def g711_encode(samples: npt.NDArray[np.int16]) -> bytes:
    """The μ-law bytes of 16-bit samples: the 14-bit value's decision interval, found by
    search in the level table, with the sign bit (set for positive) and every bit inverted."""
    value = samples.astype(np.int32) >> 2  # 16-bit to 14-bit, rounding down as audioop does
    magnitude = np.minimum(np.abs(value), MAX_MAGNITUDE)
    code = np.searchsorted(DECISION_LEVELS, magnitude, side="right") - 1
    codes: npt.NDArray[np.uint8] = np.where(value >= 0, 0xFF ^ code, 0x7F ^ code).astype(np.uint8)
    return codes.tobytes()


def test_decode_matches_the_reference_for_every_byte() -> None:
    every_byte = bytes(range(256))
    expected = np.array([g711_decode(code) for code in every_byte], np.int16)
    assert ulaw_to_pcm16(every_byte) == expected.tobytes()


def test_encode_matches_the_reference_for_every_sample() -> None:
    samples = np.arange(-32768, 32768, dtype=np.int16)
    assert pcm16_to_ulaw(samples) == g711_encode(samples)
    assert pcm16_to_ulaw(samples.tobytes()) == g711_encode(samples)


def test_item6_known_g711_values_without_audioop() -> None:
    # Zero is 0xFF, full scale the outermost codes; the two zero codes both decode to 0.
    assert pcm16_to_ulaw(np.array([0, 32767, -32768, 4, -1], np.int16)) == bytes(
        [0xFF, 0x80, 0x00, 0xFE, 0x7E]
    )
    assert ulaw_to_array(bytes([0x00, 0x80, 0x7F, 0xFF, 0xFE, 0x7E])).tolist() == [
        -32124,
        32124,
        0,
        0,
        8,
        -8,
    ]


def test_item6_output_is_bit_identical_to_what_cpythons_audioop_gave() -> None:
    # sha256 of audioop.lin2ulaw(every int16, 2) and audioop.ulaw2lin(bytes(range(256)), 2),
    # taken with CPython 3.11 before audioop was removed in 3.13.
    samples = np.arange(-32768, 32768, dtype=np.int16)
    assert hashlib.sha256(pcm16_to_ulaw(samples)).hexdigest() == (
        "81d633c9e6972a18c74a58720b96cb8ca0bdd096d4060b646dd708c3b846019a"
    )
    assert hashlib.sha256(ulaw_to_pcm16(bytes(range(256)))).hexdigest() == (
        "3dab54339e520bb2c924826e3b72a917a2b612e9fd12fc867500f1d983a75827"
    )


def test_silence_is_the_zero_sample_and_a_frame_is_160_bytes() -> None:
    assert pcm16_to_ulaw(np.zeros(1, np.int16))[0] == SILENCE_BYTE
    assert len(silence(20)) == FRAME_BYTES == 160
    assert not ulaw_to_array(silence(20)).any()


def test_round_trip_keeps_a_tone_within_quantisation_error() -> None:
    t = np.arange(8000) / 8000
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    decoded = ulaw_to_array(pcm16_to_ulaw(tone)).astype(np.int32)
    assert np.max(np.abs(decoded - tone)) < 8000 * 0.04
