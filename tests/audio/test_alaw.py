"""G.711 A-law decoding and the A-law ⇄ μ-law conversion tables, against the G.711 formulas
written out here, and against what CPython's ``audioop`` (removed in 3.13) gave, pinned by
digest."""

import hashlib

import numpy as np
import numpy.typing as npt

from aybiza.audio.alaw import (
    ALAW_TO_ULAW,
    SILENCE_BYTE,
    alaw_to_pcm16,
    alaw_to_ulaw,
    ulaw_to_alaw,
)
from aybiza.audio.codec import pcm16_to_ulaw, ulaw_to_array


def alaw_value(code: int) -> int:
    """G.711 A-law decoding, on the 16-bit scale: invert the even bits; sign S (1 = positive),
    segment E and mantissa M; |x| = 16M + 8 for E = 0, else (16M + 264) * 2^(E-1)."""
    x = code ^ 0x55
    s, e, m = x >> 7, (x >> 4) & 7, x & 15
    magnitude = 16 * m + 8 if e == 0 else (16 * m + 264) << (e - 1)
    return magnitude if s else -magnitude


def ulaw_value(code: int) -> int:
    """G.711 μ-law decoding, on the 16-bit scale: invert all bits; sign S (1 = negative),
    segment E and mantissa M; |x| = (8M + 132) * 2^E - 132."""
    x = code ^ 0xFF
    s, e, m = x >> 7, (x >> 4) & 7, x & 15
    magnitude = ((8 * m + 132) << e) - 132
    return -magnitude if s else magnitude


def ulaw_step(code: int) -> int:
    """Width of a μ-law quantisation interval in segment E: 8 * 2^E."""
    return 8 << (((code ^ 0xFF) >> 4) & 7)


def alaw_step(code: int) -> int:
    """Width of an A-law quantisation interval in segment E: 16, then 16 * 2^(E-1)."""
    e = ((code ^ 0x55) >> 4) & 7
    return 16 if e == 0 else 16 << (e - 1)


def alaw_encode_nearest(samples: npt.NDArray[np.int16]) -> bytes:
    """A-law bytes of 16-bit samples: the code whose G.711 output level is nearest."""
    levels = np.array([alaw_value(code) for code in range(256)])
    nearest = np.abs(levels[None, :] - samples.astype(np.int64)[:, None]).argmin(axis=1)
    return bytes(nearest.astype(np.uint8).tobytes())


def test_alaw_decoding_matches_the_g711_formula_and_the_reference_for_every_byte() -> None:
    every_byte = bytes(range(256))
    decoded = np.frombuffer(alaw_to_pcm16(every_byte), np.int16).tolist()
    assert decoded == [alaw_value(code) for code in range(256)]
    # sha256 of audioop.alaw2lin(bytes(range(256)), 2), taken with CPython 3.11.
    assert hashlib.sha256(alaw_to_pcm16(every_byte)).hexdigest() == (
        "e04788d110e58ff8c70c93b8480190d973e3b67876b6119abbaec766cc75c174"
    )
    # An encoder makes 0xD5 of a zero sample (audioop.lin2alaw gave d5): +8, the smallest level.
    assert alaw_value(SILENCE_BYTE) == 8


def test_known_vectors_of_g711_tables_3_and_4() -> None:
    # (A-law, μ-law): the smallest positive and negative levels, the largest, and the two entries
    # that commonly copied C tables get wrong (A level 79 and μ level 80).
    assert alaw_to_ulaw(bytes([0xD5, 0x55, 0xAA, 0x2A, 0x1A, 0x9A])) == bytes(
        [0xFE, 0x7E, 0x80, 0x00, 0x2F, 0xAF]
    )
    assert ulaw_to_alaw(bytes([0xFF, 0x7F, 0xFE, 0x80, 0x00, 0x2F, 0xAF])) == bytes(
        [0xD5, 0x55, 0xD5, 0xAA, 0x2A, 0x1A, 0x9A]
    )


def test_every_conversion_keeps_the_sign_and_lands_within_one_quantisation_step() -> None:
    for a in range(256):
        mu = alaw_to_ulaw(bytes([a]))[0]
        assert (mu ^ a) & 0x80 == 0
        assert abs(ulaw_value(mu) - alaw_value(a)) <= ulaw_step(mu)
    for mu in range(256):
        a = ulaw_to_alaw(bytes([mu]))[0]
        assert (mu ^ a) & 0x80 == 0
        assert abs(alaw_value(a) - ulaw_value(mu)) <= alaw_step(a)


def test_conversions_are_monotonic_in_level() -> None:
    by_level = sorted(range(256), key=alaw_value)
    converted = [ulaw_value(alaw_to_ulaw(bytes([a]))[0]) for a in by_level]
    assert converted == sorted(converted)
    by_level = sorted(range(256), key=ulaw_value)
    converted = [alaw_value(ulaw_to_alaw(bytes([mu]))[0]) for mu in by_level]
    assert converted == sorted(converted)


def test_alaw_round_trips_through_ulaw_wherever_the_table_is_one_to_one() -> None:
    images = list(ALAW_TO_ULAW)
    one_to_one = [a for a in range(256) if images.count(images[a]) == 1]
    assert len(one_to_one) == 224
    for a in one_to_one:
        assert ulaw_to_alaw(alaw_to_ulaw(bytes([a])))[0] == a


def test_a_tone_sent_as_pcma_arrives_as_ulaw_within_quantisation_error() -> None:
    t = np.arange(8000) / 8000
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    pcma = alaw_encode_nearest(tone)
    heard = ulaw_to_array(alaw_to_ulaw(pcma)).astype(np.int32)
    direct = ulaw_to_array(pcm16_to_ulaw(tone)).astype(np.int32)
    assert np.max(np.abs(heard - tone)) < 8000 * 0.05
    # Converting costs at most one μ-law step more than encoding μ-law directly.
    assert np.max(np.abs(heard - direct)) <= max(ulaw_step(b) for b in range(256))
