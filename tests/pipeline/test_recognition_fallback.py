"""Hardening item 11: a recogniser that cannot be reached does not lose the call. The caller is
greeted, the next configured recogniser (the embedded one last) takes over, and the call's
record says which one ran and why."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aybiza.agents.speech import SttOptions
from aybiza.analytics.recording import CallStats
from aybiza.pipeline.phrases import PhraseCache
from aybiza.pipeline.session import CallSession
from aybiza.providers.base import SttEvent
from aybiza.providers.engines import Engines
from aybiza.providers.errors import EngineUnavailableError, ReconnectGaveUpError
from aybiza.telephony.memory.connection import MemoryMedia

from .loop_kit import (
    MemoryRecorder,
    ScriptedLlm,
    ScriptedStt,
    ScriptedSttStream,
    ScriptedTts,
    plan,
    say,
    settle,
)


class UnreachableStt:
    """A cloud recogniser whose endpoint refuses every connection."""

    name = "deepgram"

    def __init__(self) -> None:
        self.attempts = 0

    async def open_stream(self, options: SttOptions) -> ScriptedSttStream:
        self.attempts += 1
        raise EngineUnavailableError("deepgram", "cannot connect to ws://127.0.0.1:9: refused")

    async def aclose(self) -> None:
        return None


class FailingLaterStream(ScriptedSttStream):
    """A stream that works until closed, then gives up reconnecting (as Deepgram's does)."""

    async def events(self) -> AsyncIterator[SttEvent]:
        async for event in super().events():
            yield event
        raise ReconnectGaveUpError("deepgram", "gave up", attempts=11, window_s=60.0)


class FailingLaterStt(ScriptedStt):
    name = "deepgram"

    async def open_stream(self, options: SttOptions) -> FailingLaterStream:
        stream = FailingLaterStream()
        self.streams.append(stream)
        return stream


def _session(
    stt: object, fallback: ScriptedStt, llm: ScriptedLlm
) -> tuple[CallSession, MemoryMedia, MemoryRecorder]:
    media, recorder = MemoryMedia(), MemoryRecorder()
    engines = Engines(stt=stt, tts=ScriptedTts(), llm=llm, fallback_stt=fallback)  # type: ignore[arg-type]
    session = CallSession(plan(), engines, media, recorder, PhraseCache())
    media.listener = session
    return session, media, recorder


def _ended(recorder: MemoryRecorder) -> CallStats:
    assert recorder.ended_with is not None
    return recorder.ended_with[1]


async def test_item11_unreachable_recogniser_at_start_falls_back_and_caller_is_greeted() -> None:
    cloud, embedded = UnreachableStt(), ScriptedStt()
    session, media, recorder = _session(cloud, embedded, ScriptedLlm([say("We open at nine.")]))
    await session.start()
    await settle()
    media.play()
    await settle()
    assert recorder.lines == [("agent", "Hello there.")], "greeted all the same"
    assert cloud.attempts == 1 and len(embedded.streams) == 1
    embedded.streams[0].emit(SttEvent("final", "what are your hours", speech_final=True))
    await settle()
    media.play()
    await settle()
    assert [turn.heard_text for turn in recorder.turns] == ["We open at nine."]
    await session.end("caller-hangup")
    stats = _ended(recorder)
    assert stats.stt_ran == "scripted-stt"
    assert stats.stt_fallback is not None and stats.stt_fallback.startswith(
        "deepgram -> scripted-stt (deepgram: EngineUnavailableError"
    )


async def test_item11_a_recogniser_that_gives_up_mid_call_hands_over_to_the_next() -> None:
    cloud, embedded = FailingLaterStt(), ScriptedStt()
    session, _media, recorder = _session(cloud, embedded, ScriptedLlm())
    await session.start()
    await settle()
    await cloud.streams[0].close()  # its events end with ReconnectGaveUpError
    await settle()
    assert session.ended_reason is None, "the call goes on"
    assert len(embedded.streams) == 1
    await session.end("caller-hangup")
    stats = _ended(recorder)
    assert stats.stt_ran == "scripted-stt" and "ReconnectGaveUpError" in (stats.stt_fallback or "")


async def test_item11_with_no_recogniser_left_the_call_ends_as_stt_failed_after_the_greeting() -> (
    None
):
    session, media, recorder = _session(UnreachableStt(), UnreachableStt(), ScriptedLlm())  # type: ignore[arg-type]
    await session.start()
    await settle()
    media.play()
    await settle()
    assert session.ended_reason == "stt-failed"
    assert _ended(recorder).stt_error is not None
