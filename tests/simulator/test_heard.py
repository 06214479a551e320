"""Placing what the caller heard in the audio the agent meant to play."""

from __future__ import annotations

import numpy as np

from aybiza.audio.codec import silence
from aybiza.simulator.heard import continuity, words_between


def audio(size: int) -> bytes:
    """Audio that never repeats itself (and holds no μ-law silence byte)."""
    return np.random.default_rng(7).integers(0, 0xFF, size, dtype=np.uint8).tobytes()


def test_a_resume_from_the_cut_point_repeats_and_skips_nothing() -> None:
    expected = audio(8000)
    heard = silence(100) + expected[:3000] + silence(400) + expected[3000:]
    joined = continuity(heard, expected)
    assert (joined.repeated_bytes, joined.skipped_bytes, joined.reached_bytes) == (0, 0, 8000)


def test_silence_valued_samples_at_the_join_are_not_counted_as_skipped() -> None:
    expected = bytearray(audio(8000))
    expected[2998:3002] = bytes([0xFF]) * 4  # samples at +0 either side of the cut point
    heard = expected[:3000] + silence(400) + expected[3000:]
    joined = continuity(bytes(heard), bytes(expected))
    assert (joined.repeated_bytes, joined.skipped_bytes) == (0, 0)
    assert [(s.start, s.end) for s in joined.stretches] == [(0, 2998), (2998, 8000)]


def test_a_resume_from_an_earlier_point_counts_the_repeat() -> None:
    expected = audio(10000)
    heard = expected[:5000] + silence(300) + expected[4000:]
    joined = continuity(heard, expected)
    assert joined.repeated_bytes == 1000 and joined.skipped_bytes == 0


def test_a_cut_answer_reaches_only_its_first_stretch() -> None:
    expected = audio(8000)
    joined = continuity(expected[:2000] + silence(500), expected)
    assert joined.reached_bytes == 2000 and len(joined.stretches) == 1


def test_words_between_counts_whole_words_only() -> None:
    text = "one two three"  # at 10 bytes a character: one=0-30, two=40-70, three=80-130
    assert words_between(text, 35, 75, 10) == 1
    assert words_between(text, 45, 75, 10) == 0
    assert words_between(text, 0, 130, 10) == 3
