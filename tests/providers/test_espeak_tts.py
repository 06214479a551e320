"""EspeakTts against the real espeak-ng library: audible μ-law, streaming, barge-in, sharing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import numpy as np
import pytest

from aybiza.agents.speech import VoiceOptions
from aybiza.audio.codec import SAMPLE_RATE_HZ, ulaw_to_array
from aybiza.providers.tts.espeak import EspeakTts

GREETING = "Hello, thank you for calling."
LONG_TEXT = " ".join(["This sentence is one of many in a long paragraph."] * 30)
VOICE = VoiceOptions()


@pytest.fixture
async def tts() -> AsyncIterator[EspeakTts]:
    engine = EspeakTts()
    yield engine
    await engine.aclose()


def duration_s(mulaw: bytes) -> float:
    return len(mulaw) / SAMPLE_RATE_HZ


def is_audible(mulaw: bytes) -> bool:
    samples = ulaw_to_array(mulaw).astype(np.float64)
    return bool(np.sqrt(np.mean(samples**2)) > 500)


async def test_synthesize_returns_audible_mulaw_of_plausible_length(tts: EspeakTts) -> None:
    audio = await tts.synthesize(GREETING, VOICE)
    assert 0.8 <= duration_s(audio) <= 4.0
    assert is_audible(audio)


async def test_leading_silence_is_trimmed_to_at_most_50_ms(tts: EspeakTts) -> None:
    audio = await tts.synthesize("... , Hello.", VOICE)
    first_sound = int(np.flatnonzero(np.abs(ulaw_to_array(audio).astype(np.int32)) > 100)[0])
    assert first_sound / SAMPLE_RATE_HZ <= 0.06


async def test_stream_yields_first_chunk_long_before_synthesis_ends(tts: EspeakTts) -> None:
    started = time.perf_counter()
    arrivals: list[float] = []
    audio = bytearray()
    async for chunk in tts.stream(LONG_TEXT, VOICE):
        arrivals.append(time.perf_counter() - started)
        audio += chunk
    assert len(arrivals) > 1
    assert arrivals[0] < arrivals[-1] / 4
    assert duration_s(bytes(audio)) > 20


async def test_stream_of_a_sentence_is_several_chunks_matching_synthesize(tts: EspeakTts) -> None:
    chunks = [chunk async for chunk in tts.stream(GREETING, VOICE)]
    whole = await tts.synthesize(GREETING, VOICE)
    assert len(chunks) > 1
    # espeak-ng varies its timing slightly between runs, so compare lengths, not bytes.
    assert abs(duration_s(b"".join(chunks)) - duration_s(whole)) < 0.1


async def test_cancelled_stream_stops_and_next_synthesis_works(tts: EspeakTts) -> None:
    received: list[bytes] = []
    first_chunk = asyncio.Event()

    async def consume() -> None:
        async for chunk in tts.stream(LONG_TEXT, VOICE):
            received.append(chunk)
            first_chunk.set()
            await asyncio.sleep(0.01)  # a consumer paced like playout

    task = asyncio.create_task(consume())
    await first_chunk.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert duration_s(b"".join(received)) < 5  # far less than the whole paragraph

    started = time.perf_counter()
    audio = await tts.synthesize(GREETING, VOICE)
    assert time.perf_counter() - started < 1.0, "the aborted synthesis freed the worker at once"
    assert 0.8 <= duration_s(audio) <= 4.0 and is_audible(audio)


async def test_closing_a_stream_early_leaves_the_engine_usable(tts: EspeakTts) -> None:
    stream = tts.stream(LONG_TEXT, VOICE)
    first = await anext(stream)
    await stream.aclose()
    assert first
    assert is_audible(await tts.synthesize(GREETING, VOICE))


async def test_concurrent_syntheses_both_complete_unmixed(tts: EspeakTts) -> None:
    short_alone = await tts.synthesize("Goodbye.", VOICE)
    long_alone = await tts.synthesize(GREETING, VOICE)
    short, long = await asyncio.gather(
        tts.synthesize("Goodbye.", VOICE), tts.synthesize(GREETING, VOICE)
    )
    assert abs(duration_s(short) - duration_s(short_alone)) < 0.1
    assert abs(duration_s(long) - duration_s(long_alone)) < 0.1
    assert is_audible(short) and is_audible(long)


async def test_cloud_voice_name_falls_back_to_the_language_voice(tts: EspeakTts) -> None:
    english = await tts.synthesize(GREETING, VoiceOptions(model="aura-asteria-en"))
    spanish = await tts.synthesize("Hola, gracias por llamar.", VoiceOptions("aura-2-x", "es-ES"))
    assert 0.8 <= duration_s(english) <= 4.0 and is_audible(english)
    assert 0.5 <= duration_s(spanish) <= 4.0 and is_audible(spanish)


async def test_speed_two_is_about_twice_as_fast(tts: EspeakTts) -> None:
    normal = await tts.synthesize(GREETING, VOICE)
    fast = await tts.synthesize(GREETING, VoiceOptions(speed=2.0))
    assert duration_s(fast) < duration_s(normal) * 0.7


async def test_empty_text_gives_no_audio(tts: EspeakTts) -> None:
    assert await tts.synthesize("   ", VOICE) == b""
    assert [chunk async for chunk in tts.stream("", VOICE)] == []


async def test_closed_engine_refuses_work() -> None:
    engine = EspeakTts()
    await engine.aclose()
    await engine.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await engine.synthesize(GREETING, VOICE)


async def test_a_call_session_speaks_in_its_voice_and_clears_on_barge_in(tts: EspeakTts) -> None:
    session = tts.open_session(VoiceOptions(model="aura-2-thalia-en"))
    try:
        interrupted = bytearray()
        async for chunk in session.stream(LONG_TEXT):
            if not interrupted:
                await session.clear()
            interrupted += chunk
        audio = b"".join([chunk async for chunk in session.stream(GREETING)])
    finally:
        await session.aclose()
    assert duration_s(bytes(interrupted)) < 5  # the stream ended soon after clear()
    assert 0.8 <= duration_s(audio) <= 4.0 and is_audible(audio)
