"""Speculative answers in the call loop (``pipeline.speculation``): the model starts, held, on a
transcript that reads as finished before the turn ends; it plays only if the turn ends with
those words, and leaves nothing of itself in the call when the caller goes on."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aybiza.analytics.cost import PriceTable, call_cost
from aybiza.conversation.routing import ModelRouter
from aybiza.providers.base import (
    AnswerEnd,
    LlmEvent,
    SttEvent,
    TextDelta,
    ToolCall,
    ToolSpec,
    Usage,
)
from aybiza.store.models import Call, utcnow

from .loop_kit import GatedTools, LoopCall, ScriptedLlm, plan, say, speech_audio

LOOKUP = ToolSpec("lookup", "Look something up.", {"type": "object", "properties": {}})


def answer(text: str, input_tokens: int = 0, output_tokens: int = 0) -> list[LlmEvent]:
    return [TextDelta(text), AnswerEnd("end_turn", Usage(input_tokens, output_tokens))]


async def greeted(
    llm: ScriptedLlm, tools: GatedTools | None = None, **overrides: object
) -> LoopCall:
    # A model-driven agent (a router picks its model): a scripted flow does not speculate.
    overrides.setdefault("router", ModelRouter("scripted", "scripted", "scripted"))
    overrides.setdefault("speculative_answers", True)  # opt-in per agent
    call = LoopCall(plan(**overrides), llm, tools)
    await call.start()
    await call.play_all()
    return call


def media_after_greeting(call: LoopCall) -> list[bytes]:
    greeting = speech_audio("Hello there.")
    return [
        item.audio for item in call.media.sent if item.kind == "media" and item.audio != greeting
    ]


async def test_a_finished_interim_starts_the_answer_held_and_the_same_final_plays_it() -> None:
    llm = ScriptedLlm([say("We open at nine.")])
    call = await greeted(llm)
    await call.hear(SttEvent("interim", "what are your hours"))
    # The model was asked and the first sentence synthesized, but nothing played or recorded.
    assert [r.messages[-1].text for r in llm.requests] == ["what are your hours"]
    assert call.tts.spoken == ["We open at nine."]
    assert media_after_greeting(call) == []
    assert all(m.text != "what are your hours" for m in call.session.conversation.messages)
    assert ("caller", "what are your hours") not in call.recorder.lines
    await call.hear(SttEvent("final", "What are your hours?", speech_final=True))
    assert media_after_greeting(call) == [speech_audio("We open at nine.")]
    assert len(llm.requests) == 1, "the held answer was used, not asked again"
    await call.play_all()
    [turn] = call.recorder.turns
    assert (turn.user_text, turn.heard_text) == ("what are your hours", "We open at nine.")
    # The context holds the words the model answered (the interim's), then what was heard.
    assert [m.text for m in call.session.conversation.messages][-2:] == [
        "what are your hours",
        "We open at nine.",
    ]
    assert call.recorder.lines[-2:] == [
        ("caller", "What are your hours?"),
        ("agent", "We open at nine."),
    ]
    # The turn's timings are counted from the end of the caller's speech: the model was asked
    # before it.
    assert turn.timings_ms["llm_request"] is not None and turn.timings_ms["llm_request"] < 0
    await call.end()
    assert call.recorder.ended_with is not None
    assert call.recorder.ended_with[1].speculative == {"started": 1, "used": 1}


async def test_the_caller_going_on_discards_the_held_answer_and_counts_its_tokens() -> None:
    llm = ScriptedLlm(
        [
            answer("Your plan is cancelled.", 120, 7),
            answer("Your subscription is cancelled.", 130, 8),
        ]
    )
    call = await greeted(llm)
    await call.hear(SttEvent("interim", "I want to cancel"))
    await call.hear(SttEvent("interim", "I want to cancel my subscription"))
    await call.hear(SttEvent("final", "I want to cancel my subscription", speech_final=True))
    await call.play_all()
    assert media_after_greeting(call) == [speech_audio("Your subscription is cancelled.")]
    [turn] = call.recorder.turns
    assert turn.heard_text == "Your subscription is cancelled."
    assert turn.usage["input_tokens"] == 130
    said = [m.text for m in call.session.conversation.messages]
    assert "Your plan is cancelled." not in said and "I want to cancel" not in said
    assert all("plan" not in text for _, text in call.recorder.lines)
    await call.end()
    assert call.recorder.ended_with is not None
    assert call.recorder.ended_with[1].speculative == {
        "started": 2,
        "discarded": 1,
        "used": 1,
        "by_model": {"scripted": {"input_tokens": 120, "output_tokens": 7}},
        "tts_characters": len("Your plan is cancelled."),
    }
    assert call.tts.clears == 1, "the synthesizer dropped what it held of the discarded answer"


async def test_a_turn_ending_with_other_words_gets_a_fresh_answer() -> None:
    llm = ScriptedLlm([say("Sure, tomorrow."), say("Sure, on Friday.")])
    call = await greeted(llm)
    await call.hear(SttEvent("interim", "book me in tomorrow"))
    await call.hear(SttEvent("final", "book me in on Friday", speech_final=True))
    await call.play_all()
    assert media_after_greeting(call) == [speech_audio("Sure, on Friday.")]
    assert [r.messages[-1].text for r in llm.requests] == [
        "book me in tomorrow",
        "book me in on Friday",
    ]
    assert [t.user_text for t in call.recorder.turns] == ["book me in on Friday"]
    await call.end()


async def test_unfinished_words_start_nothing() -> None:
    llm = ScriptedLlm([say("Got it.")])
    call = await greeted(llm)
    await call.hear(SttEvent("interim", "my number is five five five"))
    await call.hear(SttEvent("interim", "I would like to book a table for"))
    assert llm.requests == []
    await call.end()


async def test_the_agent_setting_turns_it_off() -> None:
    llm = ScriptedLlm([say("We open at nine.")])
    call = await greeted(llm, speculative_answers=False)
    await call.hear(SttEvent("interim", "what are your hours"))
    assert llm.requests == []
    await call.hear(SttEvent("final", "what are your hours", speech_final=True))
    assert len(llm.requests) == 1
    await call.end()
    assert call.recorder.ended_with is not None
    assert call.recorder.ended_with[1].speculative is None


async def test_a_held_answer_runs_no_tool_until_the_turn_ends_with_its_words() -> None:
    tools = GatedTools((LOOKUP,))
    llm = ScriptedLlm(
        [[ToolCall("t1", "lookup", {}), AnswerEnd("tool_use")], say("It is in stock.")]
    )
    call = await greeted(llm, tools, tools_enabled=True, uses_tools=True)
    await call.hear(SttEvent("interim", "is the blue one in stock"))
    assert len(llm.requests) == 1 and tools.started == []
    await call.hear(SttEvent("final", "is the blue one in stock", speech_final=True))
    assert tools.started == ["t1"]
    tools.release.set()
    await call.play_all()
    await call.play_all()
    assert [t.heard_text for t in call.recorder.turns] == ["It is in stock."]
    await call.end()


async def test_a_discarded_held_answer_never_runs_its_tool() -> None:
    tools = GatedTools((LOOKUP,))
    llm = ScriptedLlm([[ToolCall("t1", "lookup", {}), AnswerEnd("tool_use")], say("Okay.")])
    call = await greeted(llm, tools, tools_enabled=True, uses_tools=True)
    await call.hear(SttEvent("interim", "cancel my order"))
    await call.hear(SttEvent("interim", "cancel my order number"))
    await call.end()
    assert tools.started == []


def test_discarded_speculative_usage_is_priced_as_speculative() -> None:
    ended = utcnow()
    speculative = {
        "started": 3,
        "discarded": 2,
        "by_model": {"claude-3-5-haiku": {"input_tokens": 1000, "output_tokens": 100}},
        "tts_characters": 500,
    }
    call = Call(
        call_sid="CA" + "2" * 32,
        engines={"stt": "deepgram", "tts": "deepgram", "llm": "bedrock"},
        stats={"duration_s": 30.0, "speculative": speculative},
        created_at=ended - timedelta(seconds=31),
        started_at=ended - timedelta(seconds=30),
        ended_at=ended,
    )
    cost = call_cost(call, [], PriceTable())
    # 1000 input tokens at 0.0008, 100 output at 0.004 per 1000; 500 characters at 0.030.
    assert cost["speculative"] == pytest.approx(0.0008 + 0.0004 + 0.015)
    assert cost["llm"] == 0.0 and cost["tts"] == 0.0
    assert cost["total"] == pytest.approx(cost["telephony"] + cost["stt"] + cost["speculative"])
    assert cost["units"]["speculative_input_tokens"] == 1000
    assert cost["units"]["speculative_tts_characters"] == 500


async def test_a_scripted_flow_does_not_speculate() -> None:
    # A flow keeps its place as it answers: a discarded held answer would have moved it on.
    llm = ScriptedLlm([say("We open at nine.")])
    call = await greeted(llm, router=None)
    await call.hear(SttEvent("interim", "what are your hours"))
    assert llm.requests == [], "nothing asked before the turn ends"
    await call.hear(SttEvent("final", "What are your hours?", speech_final=True))
    await call.play_all()
    assert [r.messages[-1].text for r in llm.requests] == ["What are your hours?"]
    assert media_after_greeting(call) == [speech_audio("We open at nine.")]
