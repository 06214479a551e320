"""The flow engine follows a conversation flow and streams like a model would."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from aybiza.agents.flow_spec import MISSING_TOOL_CODE, FlowSpec
from aybiza.agents.schema import validate_agent_config
from aybiza.config import Settings
from aybiza.providers.base import (
    AnswerEnd,
    LlmEngine,
    LlmEvent,
    LlmRequest,
    LlmSession,
    Message,
    TextDelta,
    ToolCall,
    ToolResult,
)
from aybiza.providers.llm.flow import FlowEngine, FlowSession
from aybiza.providers.registry import EngineRegistry


@dataclass
class Answer:
    """One collected answer."""

    events: list[LlmEvent] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(e.text for e in self.events if isinstance(e, TextDelta))

    @property
    def tool_calls(self) -> list[ToolCall]:
        return [e for e in self.events if isinstance(e, ToolCall)]

    @property
    def end(self) -> AnswerEnd:
        ends = [e for e in self.events if isinstance(e, AnswerEnd)]
        assert len(ends) == 1 and self.events[-1] is ends[0]
        return ends[0]


async def ask(session: LlmSession, *messages: Message) -> Answer:
    answer = Answer()
    async for event in session.respond(LlmRequest(system="", messages=messages)):
        answer.events.append(event)
    return answer


async def say(session: LlmSession, text: str) -> Answer:
    return await ask(session, Message(role="user", text=text))


def flow(nodes: dict[str, Any], start: str = "main") -> FlowSpec:
    return FlowSpec.model_validate({"start": start, "nodes": nodes})


MENU = flow(
    {
        "main": {
            "type": "listen",
            "prompt": "How can I help?",
            "branches": [
                {"keywords": ["book", "appointment"], "digits": ["1"], "next": "when"},
                {"keywords": ["book a table"], "next": "table"},
                {"keywords": ["hours"], "digits": ["2"], "next": "hours"},
                {"keywords": ["bye"], "next": "bye"},
                {"keywords": ["person"], "next": "person"},
            ],
            "fallback": {"text": "Sorry, say book or hours."},
            "max_retries": 1,
            "on_max_retries": "person",
        },
        "when": {
            "type": "listen",
            "prompt": "When would suit you?",
            "capture": "when",
            "branches": [{"next": "record"}],
        },
        "record": {
            "type": "tool",
            "tool": "book_appointment",
            "arguments": {"at": "{{when}}", "tags": ["phone"]},
            "next": "booked",
        },
        "booked": {"type": "say", "text": "Booked for {{when}}", "next": "main"},
        "table": {"type": "say", "text": "We have no tables.", "next": "main"},
        "hours": {"type": "say", "text": "We open at nine and close at five.", "next": "main"},
        "bye": {"type": "end", "text": "Goodbye!"},
        "person": {"type": "transfer", "text": "Transferring you.", "to": "sip:desk@pbx.example"},
    }
)


def test_engine_implements_the_llm_interface() -> None:
    engine: LlmEngine = FlowEngine(MENU)
    session: LlmSession = engine.open_session("CA1")

    assert engine.name == "flow"
    assert isinstance(session, FlowSession)


async def test_start_listen_node_matches_first_utterance_without_speaking_its_prompt() -> None:
    answer = await say(FlowEngine(MENU).open_session("CA1"), "What are your hours?")

    assert answer.text == "We open at nine and close at five. How can I help?"
    assert answer.end.stop_reason == "end_turn"


async def test_answer_streams_a_few_words_per_delta_and_counts_words() -> None:
    answer = await say(FlowEngine(MENU).open_session("CA1"), "hours")

    deltas = [e.text for e in answer.events if isinstance(e, TextDelta)]
    assert len(deltas) > 1
    assert all(1 <= len(delta.split()) <= 3 for delta in deltas)
    assert answer.end.usage.output_tokens == len(answer.text.split()) == 12
    assert answer.end.usage.input_tokens == 1


async def test_start_say_node_runs_until_the_first_listen_node() -> None:
    spec = flow(
        {
            "main": {"type": "say", "text": "Welcome to ACME", "next": "menu"},
            "menu": {"type": "listen", "prompt": "Say hours", "branches": [{"next": "menu"}]},
        }
    )
    session = FlowEngine(spec).open_session("CA1")

    answer = await say(session, "hello")

    # Missing sentence punctuation is added so the sentence chunker can cut the text.
    assert answer.text == "Welcome to ACME. Say hours."
    assert isinstance(session, FlowSession) and session.node_id == "menu"


async def test_most_keyword_hits_wins_and_ties_go_to_the_earlier_branch() -> None:
    engine = FlowEngine(MENU)

    # "book a table" hits branch 1 once ("book") and branch 2 once: the earlier branch wins.
    assert (await say(engine.open_session("A"), "book a table")).text == "When would suit you?"
    # Two hits ("book", "appointment") beat one.
    answer = await say(engine.open_session("B"), "Book an APPOINTMENT please")
    assert answer.text == "When would suit you?"


async def test_keywords_match_whole_words_only() -> None:
    answer = await say(FlowEngine(MENU).open_session("CA1"), "I was booking bye-bye")

    # "booking" is not "book"; "bye-bye" contains "bye" as a whole word.
    assert answer.tool_calls[0].name == "end_call"


async def test_dtmf_message_picks_the_branch_listing_the_digits() -> None:
    answer = await say(FlowEngine(MENU).open_session("CA1"), "DTMF 2")
    assert answer.text.startswith("We open at nine")


async def test_unknown_dtmf_digits_get_the_fallback() -> None:
    answer = await say(FlowEngine(MENU).open_session("CA1"), "DTMF 9")
    assert answer.text == "Sorry, say book or hours."


async def test_capture_fills_tool_arguments_and_spoken_text() -> None:
    session = FlowEngine(MENU).open_session("CA7")
    await say(session, "DTMF 1")

    answer = await say(session, "Friday at noon.")

    assert answer.tool_calls == [
        ToolCall(
            id="flow-CA7-1",
            name="book_appointment",
            arguments={"at": "Friday at noon", "tags": ["phone"]},
        )
    ]
    assert answer.text == "Booked for Friday at noon. How can I help?"
    assert answer.end.stop_reason == "tool_use"
    assert isinstance(session, FlowSession) and session.slots == {"when": "Friday at noon"}


async def test_tool_results_only_message_gets_an_empty_answer_and_keeps_position() -> None:
    session = FlowEngine(MENU).open_session("CA1")
    await say(session, "book")
    booked = await say(session, "tomorrow")
    call_id = booked.tool_calls[0].id

    results = Message(role="user", tool_results=[ToolResult(call_id, {"ok": True})])
    answer = await ask(session, Message(role="user", text="tomorrow"), results)

    assert answer.text == "" and answer.tool_calls == []
    assert answer.end.stop_reason == "end_turn"
    assert (await say(session, "hours")).text.startswith("We open at nine")


async def test_tool_call_ids_are_unique_within_a_call() -> None:
    session = FlowEngine(MENU).open_session("CA1")
    ids: list[str] = []
    for _ in range(3):
        await say(session, "book")
        ids.extend(call.id for call in (await say(session, "monday")).tool_calls)
    assert len(set(ids)) == 3


async def test_fallback_stays_then_on_max_retries_is_followed() -> None:
    session = FlowEngine(MENU).open_session("CA1")

    first = await say(session, "banana")
    second = await say(session, "banana")

    assert first.text == "Sorry, say book or hours."
    assert first.tool_calls == []
    assert second.text == "Transferring you."
    assert second.tool_calls[0].name == "transfer_call"
    assert second.tool_calls[0].arguments == {"to": "sip:desk@pbx.example"}
    assert second.end.stop_reason == "tool_use"


async def test_retries_reset_when_the_listen_node_is_entered_again() -> None:
    session = FlowEngine(MENU).open_session("CA1")
    await say(session, "banana")
    await say(session, "hours")  # back to main through the hours node

    assert (await say(session, "banana")).text == "Sorry, say book or hours."


async def test_empty_or_missing_user_text_gets_the_fallback() -> None:
    session = FlowEngine(MENU).open_session("CA1")
    await say(session, "hours")

    assert (await say(session, "   ")).text == "Sorry, say book or hours."
    assert (await ask(FlowEngine(MENU).open_session("CA2"))).text == "Sorry, say book or hours."


async def test_without_on_max_retries_the_fallback_repeats() -> None:
    spec = flow({"main": {"type": "listen", "branches": [{"keywords": ["yes"], "next": "main"}]}})
    session = FlowEngine(spec).open_session("CA1")

    texts = [(await say(session, "maybe")).text for _ in range(5)]

    assert set(texts) == {"Sorry, I did not catch that. Could you say that again?"}


async def test_fallback_next_moves_to_another_node_and_speaks_its_prompt() -> None:
    spec = flow(
        {
            "main": {
                "type": "listen",
                "branches": [{"keywords": ["yes"], "next": "main"}],
                "fallback": {"text": "Let me try again.", "next": "menu"},
            },
            "menu": {"type": "listen", "prompt": "Press 1.", "branches": [{"next": "main"}]},
        }
    )
    answer = await say(FlowEngine(spec).open_session("CA1"), "what")
    assert answer.text == "Let me try again. Press 1."


async def test_end_node_hangs_up_and_later_turns_say_nothing() -> None:
    session = FlowEngine(MENU).open_session("CA1")

    answer = await say(session, "bye")
    after = await say(session, "hello?")

    assert answer.text == "Goodbye!"
    assert [(c.name, c.arguments) for c in answer.tool_calls] == [("end_call", {})]
    assert isinstance(session, FlowSession) and session.finished
    assert after.text == "" and after.tool_calls == []
    assert after.end.stop_reason == "end_turn"


async def test_interrupted_answer_leaves_session_at_the_next_listen_node() -> None:
    session = FlowEngine(MENU).open_session("CA1")
    stream = session.respond(LlmRequest(system="", messages=(Message("user", "book"),)))
    async for _event in stream:
        break  # the caller barged in after the first words
    await stream.aclose()

    answer = await say(session, "next week")
    assert answer.text == "Booked for next week. How can I help?"


async def test_sessions_of_one_engine_are_independent() -> None:
    engine = FlowEngine(MENU)
    first, second = engine.open_session("A"), engine.open_session("B")
    await say(first, "book")

    assert (await say(second, "tuesday")).text == "Sorry, say book or hours."
    assert (await say(first, "tuesday")).text.startswith("Booked for tuesday.")


BOOKING = flow(
    {
        "main": {
            "type": "listen",
            "capture": "when",
            "branches": [{"keywords": ["bye"], "next": "bye"}, {"next": "book"}],
        },
        "book": {
            "type": "tool",
            "tool": "book_appointment",
            "arguments": {"at": "{{when}}"},
            "next": "booked",
            "on_error": "failed",
            "on_missing": "no_tool",
        },
        "booked": {"type": "say", "text": "Booked for {{when}}.", "next": "main"},
        "failed": {"type": "say", "text": "Sorry, that booking failed.", "next": "main"},
        "no_tool": {"type": "say", "text": "I cannot book on this line.", "next": "main"},
        "bye": {"type": "end", "text": "Goodbye!"},
    }
)


def answered(call: ToolCall, result: ToolResult, text: str = "friday") -> tuple[Message, ...]:
    """The context after the call loop ran ``call``: the caller, the tool use, its result."""
    return (
        Message(role="user", text=text),
        Message(role="assistant", tool_calls=[call]),
        Message(role="user", tool_results=[result]),
    )


async def test_item17_a_tool_node_with_outcome_branches_waits_for_the_outcome() -> None:
    session = FlowEngine(BOOKING).open_session("CA1")

    answer = await say(session, "friday")

    # Nothing about the booking is said before the tool has answered.
    assert answer.text == ""
    [call] = answer.tool_calls
    assert (call.name, call.arguments) == ("book_appointment", {"at": "friday"})
    assert answer.end.stop_reason == "tool_use"
    assert isinstance(session, FlowSession)
    assert session.node_id == "book" and session.awaiting_tool_call == call.id


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ({"booked": True}, "Booked for friday."),
        ({"error": "HTTP 500"}, "Sorry, that booking failed."),
        ({"error": "unknown tool", "code": MISSING_TOOL_CODE}, "I cannot book on this line."),
    ],
    ids=["ok", "error", "missing"],
)
async def test_item17_the_flow_branches_on_the_tools_outcome(
    result: dict[str, Any], expected: str
) -> None:
    session = FlowEngine(BOOKING).open_session("CA1")
    [call] = (await say(session, "friday")).tool_calls

    is_error = "error" in result
    answer = await ask(session, *answered(call, ToolResult(call.id, result, is_error)))

    assert answer.text == expected
    assert answer.tool_calls == [] and answer.end.stop_reason == "end_turn"
    assert isinstance(session, FlowSession)
    assert session.node_id == "main" and session.awaiting_tool_call is None


async def test_a_missing_tool_follows_on_error_when_there_is_no_on_missing() -> None:
    nodes = BOOKING.model_dump()["nodes"]
    del nodes["book"]["on_missing"], nodes["no_tool"]
    session = FlowEngine(flow(nodes)).open_session("CA1")
    [call] = (await say(session, "friday")).tool_calls

    missing = ToolResult(call.id, {"error": "unknown tool", "code": MISSING_TOOL_CODE}, True)
    answer = await ask(session, *answered(call, missing))

    assert answer.text == "Sorry, that booking failed."


async def test_an_outcome_that_never_came_back_counts_as_an_error() -> None:
    # The caller spoke over the tool, so its result never reached the context: the flow does
    # not claim a booking it cannot know was made, and does not act on the words either.
    session = FlowEngine(BOOKING).open_session("CA1")
    await say(session, "friday")

    answer = await say(session, "bye")

    assert answer.text == "Sorry, that booking failed."
    assert answer.tool_calls == []
    assert isinstance(session, FlowSession) and not session.finished


async def test_with_tools_switched_off_a_tool_node_takes_its_missing_branch_at_once() -> None:
    session = FlowEngine(BOOKING, tools_enabled=False).open_session("CA1")

    answer = await say(session, "friday")

    assert answer.text == "I cannot book on this line."
    assert answer.tool_calls == [] and answer.end.stop_reason == "end_turn"


async def test_without_outcome_branches_a_tool_node_goes_on_at_once_as_before() -> None:
    session = FlowEngine(MENU).open_session("CA1")
    await say(session, "book")

    answer = await say(session, "friday")

    assert [call.name for call in answer.tool_calls] == ["book_appointment"]
    assert answer.text == "Booked for friday. How can I help?"
    assert isinstance(session, FlowSession) and session.awaiting_tool_call is None


async def test_an_agent_with_tools_switched_off_gets_a_flow_that_makes_no_tool_calls() -> None:
    config = validate_agent_config(
        {
            "name": "No tools",
            "automation": {"tools_enabled": False},
            "flow": BOOKING.model_dump(exclude_none=True),
        }
    )
    registry = EngineRegistry(Settings())
    try:
        llm = registry.resolve(config, "agent@1.0.0").llm
        answer = await say(llm.open_session("CA1"), "friday")
    finally:
        await registry.aclose()

    assert answer.text == "I cannot book on this line."
    assert answer.tool_calls == []
