"""RecognitionFeed against the fake Deepgram: quiet audio goes out in batches, speech frame by
frame, and every byte arrives in order."""

from __future__ import annotations

import asyncio
import time

import pytest
from tests.fakes.deepgram import FAKE_API_KEY, FakeDeepgram

from aybiza.pipeline.recognition_feed import RecognitionFeed
from aybiza.providers.base import SttOptions
from aybiza.providers.stt.deepgram import DeepgramStt

QUIET = [bytes([0xFF - i]) * 160 for i in range(12)]  # distinct frames, to check the order
SPEECH = [bytes([0x10 + i]) * 160 for i in range(4)]


async def received(fake: FakeDeepgram, size: int) -> bytes:
    deadline = time.monotonic() + 10
    while not fake.listen_connections or len(fake.listen_connections[0].audio) < size:
        assert time.monotonic() < deadline, "the fake did not get the audio"
        await asyncio.sleep(0.01)
    return bytes(fake.listen_connections[0].audio)


async def test_quiet_frames_are_batched_and_speech_goes_out_frame_by_frame() -> None:
    async with FakeDeepgram() as fake:
        stt = DeepgramStt(FAKE_API_KEY, base_url=fake.url)
        stream = await stt.open_stream(SttOptions())
        feed = RecognitionFeed(stream, hold_ms=100)
        try:
            for frame in QUIET[:7]:  # one batch of five, two held
                await feed.push(frame, caller_speaking=False)
            for frame in SPEECH:  # the first flushes the two held frames with it
                await feed.push(frame, caller_speaking=True)
            for frame in QUIET[7:]:  # four held
                await feed.push(frame, caller_speaking=False)
            await feed.flush()
            everything = b"".join(QUIET[:7] + SPEECH + QUIET[7:])
            assert await received(fake, len(everything)) == everything
            assert feed.messages_sent == 1 + 4 + 1
            assert fake.listen_connections[0].audio_messages == 6
        finally:
            await stream.close()
            await stt.aclose()


async def test_nothing_is_sent_by_flush_when_nothing_is_held() -> None:
    async with FakeDeepgram() as fake:
        stt = DeepgramStt(FAKE_API_KEY, base_url=fake.url)
        stream = await stt.open_stream(SttOptions())
        feed = RecognitionFeed(stream, hold_ms=40)
        try:
            await feed.push(QUIET[0], caller_speaking=False)
            await feed.push(QUIET[1], caller_speaking=False)  # a batch of two
            await feed.flush()
            assert feed.messages_sent == 1
            assert await received(fake, 320) == QUIET[0] + QUIET[1]
        finally:
            await stream.close()
            await stt.aclose()


def test_a_hold_shorter_than_a_frame_is_refused() -> None:
    with pytest.raises(ValueError, match="hold_ms"):
        RecognitionFeed(None, hold_ms=10)  # type: ignore[arg-type]
