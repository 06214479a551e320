"""The early finalise (mid-utterance, after a short quiet) reaches only recognisers that keep a
sentence whole across it: Deepgram's stream joins the stretches, pocketsphinx's phrase grammar
would decode "I would like to | book an appointment" as two fragments and lose the first."""

from __future__ import annotations

import asyncio

from aybiza.agents.speech import SttOptions, VoiceOptions
from aybiza.audio.codec import FRAME_BYTES, silence
from aybiza.pipeline.recognition import Recognition
from aybiza.providers.stt.deepgram import DeepgramStt
from aybiza.providers.stt.pocketsphinx import PocketsphinxStt
from aybiza.providers.tts.espeak import EspeakTts

PHRASES = ("i would like to book an appointment", "book an appointment", "opening hours")


async def _said(text: str) -> bytes:
    tts = EspeakTts()
    try:
        return await tts.synthesize(text, VoiceOptions(model="en-us"))
    finally:
        await tts.aclose()


async def test_a_sentence_with_a_short_pause_reaches_pocketsphinx_whole() -> None:
    first, second = await _said("I would like to"), await _said("book an appointment")
    engine = PocketsphinxStt(max_decoders=1)
    recognition = Recognition([engine], SttOptions(expected_phrases=PHRASES))
    await recognition.open()
    finals: list[str] = []
    heard = asyncio.Event()

    async def listen() -> None:
        async for event in recognition.events():
            if event.kind == "final" and event.text:
                finals.append(event.text)
                heard.set()

    listening = asyncio.create_task(listen())
    try:
        for audio, then in ((silence(200) + first + silence(160), "early"),
                            (second + silence(900), "end")):  # fmt: skip
            for offset in range(0, len(audio) - FRAME_BYTES + 1, FRAME_BYTES):
                await recognition.push(audio[offset : offset + FRAME_BYTES], hold_ms=0)
            # What the TurnDetector asks for: an early finalise in the pause, then the end.
            await recognition.finalize(early=then == "early")
        await asyncio.wait_for(heard.wait(), 20)
    finally:
        await recognition.close()
        listening.cancel()
        await engine.aclose()
    assert finals[0].lower() == "i would like to book an appointment", finals


def test_the_engines_say_whether_they_keep_a_sentence_whole_across_a_finalise() -> None:
    assert DeepgramStt.finalizes_early is True
    assert PocketsphinxStt.finalizes_early is False
