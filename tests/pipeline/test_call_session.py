"""The call loop in process: a real ``CallSession`` on the in-memory carrier (``loop_kit``).

Each test runs a whole call in milliseconds: greeting, turns, barge-in, marks, tools, hang-up.
The wire-level tests (``tests/e2e``, ``tests/simulator``) cover the same loop over Twilio's
Media Streams with real engines.
"""

from __future__ import annotations

import asyncio

import pytest

from aybiza.agents.speech import VoiceOptions
from aybiza.audio.codec import silence
from aybiza.conversation.routing import ModelRouter
from aybiza.conversation.tools import END_CALL
from aybiza.providers.base import AnswerEnd, LlmEvent, SttEvent, TextDelta, ToolCall, ToolSpec
from aybiza.providers.tts.espeak import EspeakTts

from .loop_kit import GatedTools, LoopCall, ScriptedLlm, plan, say, speech_audio

LOOKUP = ToolSpec("lookup", "Look something up.", {"type": "object", "properties": {}})


@pytest.fixture(scope="module")
def voiced() -> bytes:
    """Real speech (webrtcvad hears it as voiced), two seconds of it, made once."""

    async def synthesize() -> bytes:
        tts = EspeakTts()
        try:
            text = "I would like to book an appointment for tomorrow morning please"
            return await tts.synthesize(text, VoiceOptions(model="en-us"))
        finally:
            await tts.aclose()

    return asyncio.run(synthesize())


async def answered_greeting(llm: ScriptedLlm, **overrides: object) -> LoopCall:
    call = LoopCall(plan(**overrides), llm)
    await call.start()
    await call.play_all()
    return call


async def test_the_greeting_is_sent_first_and_is_heard_once_its_marks_come_back() -> None:
    call = LoopCall(plan(), ScriptedLlm())
    await call.start()
    kinds = [item.kind for item in call.media.sent]
    assert kinds[:2] == ["media", "mark"]
    assert call.media.sent[0].audio.startswith(speech_audio("Hello there.")[:160])
    assert call.recorder.lines == [], "nothing is heard before its marks come back"
    echoed = await call.play_all()
    assert echoed and all(name.startswith("u1s0") for name in echoed)
    assert call.recorder.lines == [("agent", "Hello there.")]
    await call.end()


async def test_a_finished_utterance_is_answered_and_its_turn_recorded() -> None:
    llm = ScriptedLlm([say("We open at nine.")])
    call = await answered_greeting(llm)
    await call.caller_says("what are your hours")
    assert call.tts.spoken == ["We open at nine."]
    assert llm.requests[-1].messages[-1].text == "what are your hours"
    await call.play_all()
    [turn] = call.recorder.turns
    assert (turn.user_text, turn.heard_text, turn.interrupted) == (
        "what are your hours",
        "We open at nine.",
        False,
    )
    assert turn.timings_ms["stt_final"] is not None
    assert call.recorder.lines[-2:] == [
        ("caller", "what are your hours"),
        ("agent", "We open at nine."),
    ]
    await call.end()


async def test_the_vad_s_end_of_speech_asks_the_recogniser_to_finalise(voiced: bytes) -> None:
    llm = ScriptedLlm([say("Sure.")])
    call = await answered_greeting(llm)
    await call.frames(silence(200) + voiced + silence(700))
    # Once early (a short pause may end a finished sentence), once at the VAD's end of speech.
    assert call.recognition.finalized == 2
    assert call.recognition.audio, "caller audio reached the recogniser"
    # A final without the recogniser's own end of utterance now ends the turn.
    await call.hear(SttEvent("final", "book an appointment", speech_final=False))
    assert [turn.user_text for turn in call.recorder.turns] == []
    await call.play_all()
    assert [turn.user_text for turn in call.recorder.turns] == ["book an appointment"]
    await call.end()


async def test_voiced_speech_during_playout_clears_the_carrier_and_keeps_what_was_heard(
    voiced: bytes,
) -> None:
    first, second = "First things first.", "Then a much longer second sentence follows here."
    llm = ScriptedLlm([say(f"{first} {second}")])
    call = await answered_greeting(llm)
    await call.caller_says("tell me everything")
    assert call.tts.spoken == [first, second]
    # The caller hears the first sentence and a little of the second, then talks.
    call.media.play(len(first.split()) * 100 + 60)
    await call.frames(voiced)
    assert call.media.clears == 1
    assert call.session.stats.barge_ins == 1
    [turn] = call.recorder.turns
    assert turn.interrupted and turn.heard_text == first
    assert call.session.conversation.messages[-1].text == first
    assert call.recorder.lines[-1] == ("agent", first)
    await call.end()


async def test_a_backchannel_during_playout_lets_the_agent_finish() -> None:
    llm = ScriptedLlm([say("Your booking is for nine tomorrow morning.")])
    call = await answered_greeting(llm)
    await call.caller_says("when is my booking")
    await call.hear(SttEvent("interim", "uh-huh"))
    await call.hear(SttEvent("final", "uh-huh", speech_final=True))
    assert call.media.clears == 0
    await call.play_all()
    [turn] = call.recorder.turns
    assert not turn.interrupted
    assert turn.heard_text == "Your booking is for nine tomorrow morning."
    assert ("caller", "uh-huh") in call.recorder.lines
    assert len(llm.requests) == 1, "a backchannel gets no answer of its own"
    await call.end()


async def test_a_real_word_during_playout_interrupts_and_is_answered() -> None:
    llm = ScriptedLlm([say("Let me read you our whole menu today."), say("Okay, stopping.")])
    call = await answered_greeting(llm)
    await call.caller_says("what is on the menu")
    await call.hear(SttEvent("final", "stop", speech_final=True))
    assert call.media.clears == 1
    assert llm.requests[-1].messages[-1].text.endswith("stop")
    await call.play_all()
    assert [turn.interrupted for turn in call.recorder.turns] == [True, False]
    await call.end()


async def test_the_caller_going_on_during_a_tool_call_cancels_the_tool() -> None:
    tools = GatedTools((LOOKUP,))
    llm = ScriptedLlm(
        [
            [ToolCall("t1", "lookup", {}), AnswerEnd("tool_use")],
            say("Here is what I found."),
            say("Of course, anything else?"),
        ]
    )
    call = LoopCall(plan(tools_enabled=True, uses_tools=True), llm, tools)
    await call.start()
    await call.play_all()
    await call.caller_says("look up my order")
    assert tools.started == ["t1"]
    assert [spec.name for spec in llm.requests[0].tools] == [END_CALL, "transfer_call", "lookup"]
    await call.caller_says("actually never mind")
    assert tools.cancelled == ["t1"] and tools.finished == []
    await call.play_all()
    request = llm.requests[-1]
    assert request.messages[-1].text == "actually never mind"
    # Every tool use in the context has its result (Bedrock refuses a request without).
    [use] = [m for m in request.messages if m.tool_calls]
    [result] = [r for m in request.messages for r in m.tool_results]
    assert result.tool_call_id == use.tool_calls[0].id == "t1"
    assert result.is_error and "cancelled by the caller" in str(result.content)
    await call.end()


async def test_item15_after_a_tool_call_the_next_request_and_turn_use_the_complex_model() -> None:
    tools = GatedTools((LOOKUP,))
    tools.release.set()
    llm = ScriptedLlm(
        [
            [ToolCall("t1", "lookup", {}), AnswerEnd("tool_use")],
            say("Found it."),
            say("Anything else?"),
        ]
    )
    router = ModelRouter(default="default-model", fast="fast-model", complex="complex-model")
    call = LoopCall(plan(tools_enabled=True, uses_tools=True, router=router), llm, tools)
    await call.start()
    await call.play_all()
    await call.caller_says("look up my order")
    await call.play_all()
    await call.caller_says("thanks")
    await call.play_all()
    assert [r.model for r in llm.requests] == ["fast-model", "complex-model", "complex-model"]
    assert [t.notes.get("route") for t in call.recorder.turns] == [
        "short turn (4 words)",
        "follows a tool call",
    ]
    await call.end()


async def test_end_call_hangs_up_once_the_goodbye_has_been_heard() -> None:
    goodbye: list[LlmEvent] = [
        TextDelta("Goodbye now."),
        ToolCall("e1", END_CALL, {}),
        AnswerEnd("tool_use"),
    ]
    call = LoopCall(
        plan(tools_enabled=True, uses_tools=True), ScriptedLlm([goodbye]), GatedTools(())
    )
    await call.start()
    await call.play_all()
    await call.caller_says("that is all thanks")
    assert not call.session.finished.is_set(), "the goodbye has not been heard yet"
    await call.play_all()
    assert call.session.finished.is_set()
    assert call.recorder.ended_with is not None
    reason, stats, transfer_to = call.recorder.ended_with
    assert (reason, transfer_to) == ("agent-ended", None)
    assert stats.turns == 1 and stats.as_dict()["turns"] == 1


async def test_a_second_end_changes_nothing_and_protocol_warnings_reach_the_record() -> None:
    call = LoopCall(plan(), ScriptedLlm())
    await call.start()
    call.session.warn("a second start message (MZ2) was ignored")
    await call.session.end("caller-hangup")
    await call.session.end("api-hangup")
    assert call.recorder.ended_with is not None
    reason, stats, _ = call.recorder.ended_with
    assert reason == "caller-hangup"
    assert stats.as_dict()["protocol_warnings"] == ["a second start message (MZ2) was ignored"]
    assert call.recognition.closed
