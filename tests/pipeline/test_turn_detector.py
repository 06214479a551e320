"""``TurnDetector`` on real audio frames (espeak-ng) and recogniser events."""

from __future__ import annotations

import asyncio

import pytest

from aybiza.agents.speech import VoiceOptions
from aybiza.audio.codec import FRAME_BYTES, silence
from aybiza.pipeline.turn_detector import TurnDetector
from aybiza.providers.tts.espeak import EspeakTts


@pytest.fixture(scope="module")
def speech() -> bytes:
    async def synthesize() -> bytes:
        tts = EspeakTts()
        try:
            return await tts.synthesize("my number is", VoiceOptions(model="en-us"))
        finally:
            await tts.aclose()

    return asyncio.run(synthesize())


def feed(detector: TurnDetector, audio: bytes, early: list[bool] | None = None) -> list[int]:
    """Feed ``audio``; the frame indexes at which a finalise was asked for (and, in
    ``early``, whether each was the early one)."""
    due = []
    for index, offset in enumerate(range(0, len(audio) - FRAME_BYTES + 1, FRAME_BYTES)):
        detector.on_frame(audio[offset : offset + FRAME_BYTES])
        if detector.finalize_due:
            due.append(index)
            if early is not None:
                early.append(detector.finalize_early)
    return due


def test_a_short_silence_after_speech_asks_for_an_early_finalise(speech: bytes) -> None:
    detector = TurnDetector(500, early_finalize_ms=120)
    early: list[bool] = []
    due = feed(detector, silence(100) + speech + silence(600), early)
    assert len(due) == 2, "early, then at the end of speech"
    assert early == [True, False]
    assert due[1] - due[0] >= (500 - 120) // 20 - 10


def test_a_finished_sentence_ends_the_turn_on_its_final(speech: bytes) -> None:
    detector = TurnDetector()
    feed(detector, speech + silence(240))
    assert detector.on_final("What are your hours", speech_final=False) == "What are your hours"


def test_an_unfinished_sentence_is_held_and_joined_with_what_follows(speech: bytes) -> None:
    detector = TurnDetector()
    feed(detector, speech + silence(400))
    assert detector.on_final("My number is", speech_final=True) is None
    assert detector.holding
    feed(detector, speech + silence(200))
    text = detector.on_final("five five five one two one two", speech_final=True)
    assert text == "My number is five five five one two one two"
    assert not detector.holding


def test_a_held_turn_ends_after_the_unfinished_wait(speech: bytes) -> None:
    detector = TurnDetector(500, unfinished_wait_ms=1000)
    feed(detector, speech + silence(300))
    assert detector.on_final("I would like a table for", speech_final=True) is None
    overdue = None
    frames = 0
    while overdue is None and frames < 100:
        detector.on_frame(silence(20))
        frames += 1
        overdue = detector.overdue()
    assert overdue == "I would like a table for"
    assert detector.state.silence_ms >= 1000


def test_no_text_is_no_turn() -> None:
    detector = TurnDetector()
    assert detector.on_final("", speech_final=True) is None
    assert detector.on_end_of_speech() is None
