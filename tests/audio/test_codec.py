import audioop  # stdlib reference implementation (deprecated, still in 3.11/3.12)

import numpy as np

from aybiza.audio.codec import (
    FRAME_BYTES,
    SILENCE_BYTE,
    pcm16_to_ulaw,
    silence,
    ulaw_to_array,
    ulaw_to_pcm16,
)


def test_decode_matches_the_reference_for_every_byte() -> None:
    every_byte = bytes(range(256))
    assert ulaw_to_pcm16(every_byte) == audioop.ulaw2lin(every_byte, 2)


def test_encode_matches_the_reference_for_every_sample() -> None:
    samples = np.arange(-32768, 32768, dtype=np.int16)
    assert pcm16_to_ulaw(samples) == audioop.lin2ulaw(samples.tobytes(), 2)
    assert pcm16_to_ulaw(samples.tobytes()) == audioop.lin2ulaw(samples.tobytes(), 2)


def test_silence_is_the_zero_sample_and_a_frame_is_160_bytes() -> None:
    assert pcm16_to_ulaw(np.zeros(1, np.int16))[0] == SILENCE_BYTE
    assert len(silence(20)) == FRAME_BYTES == 160
    assert not ulaw_to_array(silence(20)).any()


def test_round_trip_keeps_a_tone_within_quantisation_error() -> None:
    t = np.arange(8000) / 8000
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    decoded = ulaw_to_array(pcm16_to_ulaw(tone)).astype(np.int32)
    assert np.max(np.abs(decoded - tone)) < 8000 * 0.04
