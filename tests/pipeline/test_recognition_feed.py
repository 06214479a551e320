"""RecognitionFeed against the fake Deepgram: audio goes out in batches as long as each frame
may wait, at once when the caller has just stopped, and every byte arrives in order."""

from __future__ import annotations

import asyncio
import time

import pytest
from tests.fakes.deepgram import FAKE_API_KEY, FakeDeepgram

from aybiza.agents.speech import SttOptions
from aybiza.config import Settings
from aybiza.pipeline.recognition_feed import (
    QUIET_HOLD_MS,
    SPEECH_HOLD_MS,
    RecognitionFeed,
    SttBatching,
    hold_ms,
)
from aybiza.pipeline.vad import VadState
from aybiza.providers.stt.deepgram import DeepgramStt

QUIET = [bytes([0xFF - i]) * 160 for i in range(12)]  # distinct frames, to check the order
SPEECH = [bytes([0x10 + i]) * 160 for i in range(8)]


async def received(fake: FakeDeepgram, size: int) -> bytes:
    deadline = time.monotonic() + 10
    while not fake.listen_connections or len(fake.listen_connections[0].audio) < size:
        assert time.monotonic() < deadline, "the fake did not get the audio"
        await asyncio.sleep(0.01)
    return bytes(fake.listen_connections[0].audio)


def test_how_long_a_frame_may_wait_follows_the_vad() -> None:
    assert hold_ms(VadState()) == QUIET_HOLD_MS
    assert hold_ms(VadState(speaking=True, speech_ms=200)) == SPEECH_HOLD_MS
    # The trailing silence decides when the recogniser ends the turn: never held.
    assert hold_ms(VadState(speaking=True, speech_ms=200, silence_ms=20)) == 0
    assert hold_ms(VadState(ended=True, silence_ms=500)) == 0


async def test_frames_are_batched_while_they_may_wait_and_go_out_at_once_after_speech() -> None:
    async with FakeDeepgram() as fake:
        stt = DeepgramStt(FAKE_API_KEY, base_url=fake.url)
        stream = await stt.open_stream(SttOptions())
        feed = RecognitionFeed(stream)
        try:
            for frame in QUIET[:7]:  # quiet: one batch of five, two held
                await feed.push(frame, hold_ms=100)
            for frame in SPEECH:  # speech: the first completes a batch of three, 3, 1 held
                await feed.push(frame, hold_ms=60)
            await feed.push(QUIET[7], hold_ms=0)  # just stopped: with the held speech frame
            for frame in QUIET[8:]:  # quiet again: four held
                await feed.push(frame, hold_ms=100)
            await feed.flush()
            everything = b"".join(QUIET[:7] + SPEECH + QUIET[7:])
            assert await received(fake, len(everything)) == everything
            assert feed.messages_sent == 1 + 3 + 1 + 1
            assert fake.listen_connections[0].audio_messages == 6
        finally:
            await stream.close()
            await stt.aclose()


async def test_nothing_is_sent_by_flush_when_nothing_is_held() -> None:
    async with FakeDeepgram() as fake:
        stt = DeepgramStt(FAKE_API_KEY, base_url=fake.url)
        stream = await stt.open_stream(SttOptions())
        feed = RecognitionFeed(stream)
        try:
            await feed.push(QUIET[0], hold_ms=40)
            await feed.push(QUIET[1], hold_ms=40)  # a batch of two
            await feed.flush()
            assert feed.messages_sent == 1
            assert await received(fake, 320) == QUIET[0] + QUIET[1]
        finally:
            await stream.close()
            await stt.aclose()


def test_the_server_can_choose_other_batches_and_never_holds_the_trailing_silence() -> None:
    batching = SttBatching(quiet_ms=40, speech_ms=0)
    assert hold_ms(VadState(), batching) == 40
    assert hold_ms(VadState(speaking=True, speech_ms=200), batching) == 0
    assert hold_ms(VadState(speaking=True, speech_ms=200, silence_ms=20), batching) == 0


@pytest.mark.parametrize("quiet_ms, speech_ms", [(30, 60), (100, -20), (1020, 60)])
def test_a_batch_that_is_not_whole_frames_is_refused_by_name(quiet_ms: int, speech_ms: int) -> None:
    with pytest.raises(ValueError, match=r"(quiet|speech)_ms"):
        SttBatching(quiet_ms=quiet_ms, speech_ms=speech_ms)


def test_the_batches_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AYBIZA_STT_BATCH_QUIET_MS", "40")
    monkeypatch.setenv("AYBIZA_STT_BATCH_SPEECH_MS", "0")
    settings = Settings.from_env()
    assert (settings.stt_batch_quiet_ms, settings.stt_batch_speech_ms) == (40, 0)
    monkeypatch.setenv("AYBIZA_STT_BATCH_SPEECH_MS", "50")
    with pytest.raises(ValueError, match="AYBIZA_STT_BATCH_SPEECH_MS"):
        Settings.from_env()
