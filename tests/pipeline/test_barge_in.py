"""Pause, then decide (``BargeIn``) in the real call loop, on real audio frames: espeak-ng
speech for words, ``aybiza.simulator.caller_sounds`` for a cough and line noise."""

from __future__ import annotations

import asyncio

import pytest

from aybiza.agents.speech import VoiceOptions
from aybiza.audio.codec import silence
from aybiza.providers.base import SttEvent
from aybiza.providers.tts.espeak import EspeakTts
from aybiza.simulator.caller_sounds import cough, line_noise

from .loop_kit import LoopCall, ScriptedLlm, plan, say

GREETING = "Hello there, thank you for calling, how can I help you today?"


@pytest.fixture(scope="module")
def words() -> dict[str, bytes]:
    async def synthesize() -> dict[str, bytes]:
        tts = EspeakTts()
        try:
            return {
                text: await tts.synthesize(text, VoiceOptions(model="en-us"))
                for text in ("right", "uh-huh", "wait I have a question about my bill")
            }
        finally:
            await tts.aclose()

    return asyncio.run(synthesize())


async def greeting_playing(llm: ScriptedLlm | None = None) -> LoopCall:
    call = LoopCall(plan(greeting=GREETING), llm or ScriptedLlm([say("Of course.")]))
    await call.start()
    call.media.play(300)  # the caller has heard the start of the greeting
    return call


def media_after_clear(call: LoopCall) -> int:
    kinds = [item.kind for item in call.media.sent]
    after = kinds[kinds.index("clear") + 1 :] if "clear" in kinds else []
    return after.count("media")


async def test_a_cough_pauses_the_agent_at_once_and_the_greeting_resumes(
    words: dict[str, bytes],
) -> None:
    call = await greeting_playing()
    await call.frames(cough(300, seed=3)[:800])  # 100 ms of it
    assert call.media.clears == 1, "the agent stopped on the cough's onset"
    assert media_after_clear(call) == 0
    await call.frames(cough(300, seed=3)[800:] + silence(700))
    assert media_after_clear(call) > 0, "the greeting went on after the window"
    await call.play_all()
    assert call.session.barge.resumes == 1
    assert call.recorder.lines == [("agent", GREETING)]
    await call.end()


async def test_line_noise_resumes_the_greeting(words: dict[str, bytes]) -> None:
    call = await greeting_playing()
    await call.frames(line_noise(200, seed=5) + silence(800))
    assert call.media.clears == 1 and media_after_clear(call) > 0
    await call.play_all()
    assert call.recorder.lines == [("agent", GREETING)]
    await call.end()


async def test_a_backchannel_word_resumes_once_its_final_arrives(words: dict[str, bytes]) -> None:
    call = await greeting_playing()
    await call.frames(words["right"][:1600])
    assert call.media.clears == 1
    await call.hear(SttEvent("interim", "right"))
    await call.frames(words["right"][1600:] + silence(140))
    await call.hear(SttEvent("final", "right", speech_final=True))
    assert media_after_clear(call) > 0, "resumed on the backchannel's final"
    await call.frames(silence(800))
    await call.play_all()
    assert call.recorder.lines[-1] == ("agent", GREETING)
    assert ("caller", "right") in call.recorder.lines
    await call.end()


async def test_a_real_interruption_is_cut_as_soon_as_words_arrive(words: dict[str, bytes]) -> None:
    llm = ScriptedLlm([say("Sure, what about your bill?")])
    call = await greeting_playing(llm)
    speech = words["wait I have a question about my bill"]
    await call.frames(speech[:2400])
    assert call.media.clears == 1
    await call.hear(SttEvent("interim", "wait I"))
    assert call.session.stats.barge_ins == 1, "cut on the first real words"
    assert media_after_clear(call) == 0
    await call.frames(speech[2400:] + silence(200))
    await call.hear(SttEvent("final", "wait I have a question about my bill", speech_final=True))
    assert llm.requests[-1].messages[-1].text == "wait I have a question about my bill"
    await call.end()


async def test_talking_on_with_no_words_is_an_interruption_when_the_window_ends(
    words: dict[str, bytes],
) -> None:
    call = await greeting_playing()
    await call.frames(words["wait I have a question about my bill"])
    assert call.session.stats.barge_ins == 1
    assert media_after_clear(call) == 0
    await call.end()
