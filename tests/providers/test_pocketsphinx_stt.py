"""PocketsphinxStt on real audio: speech synthesized by EspeakTts, fed as 20 ms μ-law frames."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import pytest

from aybiza.agents.speech import SttOptions
from aybiza.audio.codec import FRAME_BYTES, silence, ulaw_to_array
from aybiza.providers.base import SttEvent, SttStream
from aybiza.providers.stt.pocketsphinx import PocketsphinxStt
from aybiza.providers.stt.speech_detector import SpeechDetector

PHRASES = (
    "i would like to book an appointment",
    "tomorrow morning",
    "what are your opening hours",
    "i want to speak to a person",
    "goodbye",
)
WITH_PHRASES = SttOptions(expected_phrases=PHRASES)
TIMEOUT_S = 10

_speech: dict[str, bytes] = {}
# espeak-ng carries state from one synthesis to the next (the same phrase comes out a few samples
# different after other sentences), and this worker may have run any other test's calls first.
# The phrases are synthesized in a process of their own, so every run decodes the same audio:
# these tests are about recognition, whatever espeak spoke before.
_SYNTHESIZE = """
import asyncio, sys
from aybiza.agents.speech import VoiceOptions
from aybiza.providers.tts.espeak import EspeakTts

async def main() -> None:
    tts = EspeakTts()
    for text in sys.argv[1:]:
        print((await tts.synthesize(text, VoiceOptions(model="en-us"))).hex())
    await tts.aclose()

asyncio.run(main())
"""


async def speech(text: str) -> bytes:
    """``text`` spoken by espeak in a fresh process, synthesized once per test run."""
    if text not in _speech:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _SYNTHESIZE, text, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await process.communicate()
        assert process.returncode == 0, f"espeak synthesis of {text!r} failed"
        _speech[text] = bytes.fromhex(out.decode().strip())
    return _speech[text]


async def padded_speech(text: str) -> bytes:
    return silence(500) + await speech(text) + silence(1000)


@pytest.fixture
async def stt() -> AsyncIterator[PocketsphinxStt]:
    engine = PocketsphinxStt(max_decoders=2)
    yield engine
    await engine.aclose()


async def feed(stream: SttStream, mulaw: bytes, frame_pause_s: float = 0.0) -> None:
    for start in range(0, len(mulaw), FRAME_BYTES):
        await stream.send_audio(mulaw[start : start + FRAME_BYTES])
        if frame_pause_s:
            await asyncio.sleep(frame_pause_s)


async def events_until_end(stream: SttStream) -> list[SttEvent]:
    """Events up to and including the first ``final`` or ``end_of_speech``."""
    events: list[SttEvent] = []
    async with asyncio.timeout(TIMEOUT_S):
        async for event in stream.events():
            events.append(event)
            if event.kind in ("final", "end_of_speech"):
                break
    return events


async def recognise(
    engine: PocketsphinxStt, text: str, options: SttOptions, frame_pause_s: float = 0.0
) -> list[SttEvent]:
    stream = await engine.open_stream(options)
    try:
        listening = asyncio.create_task(events_until_end(stream))
        await feed(stream, await padded_speech(text), frame_pause_s)
        return await listening
    finally:
        await stream.close()


def final_text(events: list[SttEvent]) -> str:
    finals = [event for event in events if event.kind == "final"]
    assert len(finals) == 1, events
    assert finals[0].speech_final
    return finals[0].text


@pytest.mark.parametrize("text", ["I would like to book an appointment", "tomorrow morning"])
async def test_expected_phrase_is_recognised_exactly(stt: PocketsphinxStt, text: str) -> None:
    events = await recognise(stt, text, WITH_PHRASES)
    assert final_text(events) == text.lower()


async def test_speech_started_comes_before_the_final(stt: PocketsphinxStt) -> None:
    events = await recognise(stt, "goodbye", WITH_PHRASES)
    kinds = [event.kind for event in events]
    assert kinds[0] == "speech_started"
    assert kinds[-1] == "final"


async def test_without_expected_phrases_the_language_model_gives_text(
    stt: PocketsphinxStt,
) -> None:
    events = await recognise(stt, "I would like to book an appointment", SttOptions())
    assert events[0].kind == "speech_started"
    assert final_text(events).strip()


async def test_interim_hypotheses_arrive_while_audio_comes_in(stt: PocketsphinxStt) -> None:
    # Paced (4x real time) so decoding keeps up with the audio, as on a live call.
    text = "I would like to book an appointment"
    events = await recognise(stt, text, WITH_PHRASES, 0.005)
    kinds = [event.kind for event in events]
    assert "interim" in kinds and kinds.index("interim") < kinds.index("final")
    assert final_text(events) == text.lower()


async def test_finalize_gives_the_final_without_waiting_for_silence(stt: PocketsphinxStt) -> None:
    stream = await stt.open_stream(WITH_PHRASES)
    try:
        listening = asyncio.create_task(events_until_end(stream))
        # Trailing silence shorter than the endpointing: only finalize() can end the utterance.
        await feed(stream, silence(500) + await speech("tomorrow morning") + silence(100))
        await asyncio.sleep(0.3)
        assert not listening.done(), "the stream must not end the utterance by itself yet"
        await stream.finalize()
        events = await listening
    finally:
        await stream.close()
    assert final_text(events) == "tomorrow morning"


async def test_stream_is_ready_for_the_next_utterance_after_a_final(stt: PocketsphinxStt) -> None:
    stream = await stt.open_stream(WITH_PHRASES)
    try:
        texts = []
        for text in ("tomorrow morning", "I would like to book an appointment"):
            listening = asyncio.create_task(events_until_end(stream))
            await feed(stream, await padded_speech(text))
            texts.append(final_text(await listening))
    finally:
        await stream.close()
    assert texts == ["tomorrow morning", "i would like to book an appointment"]


async def test_streams_share_a_single_decoder() -> None:
    engine = PocketsphinxStt(max_decoders=1)
    texts = ["I would like to book an appointment", "tomorrow morning", "goodbye"]
    try:
        results = await asyncio.gather(*(recognise(engine, t, WITH_PHRASES) for t in texts))
    finally:
        await engine.aclose()
    assert [final_text(events) for events in results] == [t.lower() for t in texts]


async def test_silence_alone_produces_no_events(stt: PocketsphinxStt) -> None:
    stream = await stt.open_stream(WITH_PHRASES)
    listening = asyncio.create_task(events_until_end(stream))
    await feed(stream, silence(2000))
    await stream.finalize()  # nothing to finalize: a no-op
    await asyncio.sleep(0.1)
    await stream.close()
    assert await listening == []


async def test_close_is_idempotent_and_returns_the_decoder() -> None:
    engine = PocketsphinxStt(max_decoders=1)
    try:
        first = await engine.open_stream(WITH_PHRASES)
        # Hang up mid-utterance while the stream holds the only decoder.
        await feed(first, silence(200) + await speech("I would like to book an appointment"))
        await asyncio.sleep(0.2)
        await first.close()
        await first.close()
        async with asyncio.timeout(1):
            left = [event.kind async for event in first.events()]
        assert left == ["speech_started"]  # then the iterator ends: no final for a hang-up
        events = await recognise(engine, "goodbye", WITH_PHRASES)
        assert final_text(events) == "goodbye"
    finally:
        await engine.aclose()


async def test_expected_phrases_with_unknown_words_are_skipped(stt: PocketsphinxStt) -> None:
    options = SttOptions(expected_phrases=("Tomorrow morning!", "zorblaxian frobnitz", "goodbye"))
    events = await recognise(stt, "tomorrow morning", options)
    assert final_text(events) == "tomorrow morning"


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="max_decoders"):
        PocketsphinxStt(max_decoders=0)
    with pytest.raises(ValueError, match="vad_aggressiveness"):
        PocketsphinxStt(vad_aggressiveness=5)


async def test_an_utterance_without_pauses_is_cut_at_max_utterance_ms() -> None:
    detector = SpeechDetector(end_silence_ms=5000, max_utterance_ms=1000)
    pcm = ulaw_to_array(await speech("I would like to book an appointment"))
    frames = [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm) - FRAME_BYTES, FRAME_BYTES)]
    kinds = [detector.push(frame) for frame in frames]
    started, ended = kinds.index("started"), kinds.index("ended")
    assert (ended - started) * 20 <= 1000
