"""The demo agent validates and its flow holds a real ACME support conversation."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

import pytest

from aybiza.agents import DEMO_AGENT, DEMO_PHONE_NUMBER, demo_agent_config, validate_agent_config
from aybiza.agents.demo import NO_BOOKING_SYSTEM, NOT_BOOKED
from aybiza.agents.flow_spec import CALL_CONTROL_TOOLS, MISSING_TOOL_CODE, FlowSpec, ListenNode
from aybiza.providers.base import AnswerEnd, LlmRequest, Message, TextDelta, ToolCall, ToolResult
from aybiza.providers.llm.flow import FlowEngine, FlowSession

REQUIRED_PHRASES = [
    "i would like to book an appointment",
    "book an appointment",
    "tomorrow morning",
    "tomorrow afternoon",
    "next monday",
    "what are your opening hours",
    "opening hours",
    "i want to speak to a person",
    "speak to a person",
    "goodbye",
    "no thank you",
    "yes",
    "no",
    "that is all",
]
ASK_TIME = "What day and time would suit you?"
ANYTHING_ELSE = "Is there anything else I can help with?"


async def turn(
    session: FlowSession, text: str, failing: Mapping[str, dict[str, Any]] | None = None
) -> tuple[str, list[ToolCall]]:
    """Send one caller utterance and, as the call loop does, answer each round's tool calls
    until the agent stops calling tools; return everything spoken and every tool call.
    ``failing``: the error result each named tool gives (the others succeed)."""
    spoken: list[str] = []
    calls: list[ToolCall] = []
    messages = [Message(role="user", text=text)]
    while True:
        ends = 0
        round_text = ""
        round_calls: list[ToolCall] = []
        async for event in session.respond(LlmRequest(system="", messages=tuple(messages))):
            if isinstance(event, TextDelta):
                round_text += event.text
            elif isinstance(event, ToolCall):
                round_calls.append(event)
            elif isinstance(event, AnswerEnd):
                ends += 1
        assert ends == 1
        if round_text:
            spoken.append(round_text)
        calls.extend(round_calls)
        tools = [call for call in round_calls if call.name not in CALL_CONTROL_TOOLS]
        if not tools:
            return " ".join(spoken), calls
        failures = failing or {}
        results = [
            ToolResult(call.id, failures[call.name], True)
            if call.name in failures
            else ToolResult(call.id, {"ok": True})
            for call in tools
        ]
        messages = [
            *messages,
            Message(role="assistant", tool_calls=tools),
            Message(role="user", tool_results=results),
        ]


@pytest.fixture
def session() -> FlowSession:
    flow = demo_agent_config().flow
    assert flow is not None
    return FlowEngine(flow).open_session("CA-demo")


def test_demo_agent_validates_with_the_documented_identity() -> None:
    config = demo_agent_config()

    assert DEMO_PHONE_NUMBER == "+15005550006"
    assert config.name == "ACME Support (demo)"
    assert config.version == "1.0.0"
    assert config.voice.model == "aura-2-thalia-en"
    assert config.greeting == (
        "Hello, thank you for calling ACME support. How can I help you today?"
    )
    assert "ACME" in config.system_prompt
    assert config.flow is not None


def test_demo_agent_dict_is_plain_json_and_round_trips() -> None:
    assert validate_agent_config(copy.deepcopy(DEMO_AGENT)) == demo_agent_config()


def test_expected_phrases_cover_what_the_demo_expects_to_hear() -> None:
    phrases = demo_agent_config().speech.expected_phrases
    assert set(REQUIRED_PHRASES) <= set(phrases)


def test_every_branch_keyword_is_drawn_from_the_expected_phrases() -> None:
    config = demo_agent_config()
    assert isinstance(config.flow, FlowSpec)
    phrases = config.speech.expected_phrases
    for node_id, node in config.flow.nodes.items():
        if not isinstance(node, ListenNode):
            continue
        for branch in node.branches:
            for keyword in branch.keywords:
                pattern = rf"(?<!\w){re.escape(keyword)}(?!\w)"
                assert any(re.search(pattern, p) for p in phrases), (node_id, keyword)


async def test_booking_asks_for_a_time_confirms_it_books_and_texts(session: FlowSession) -> None:
    asked, _ = await turn(session, "I would like to book an appointment")
    confirmed, calls = await turn(session, "tomorrow morning")

    assert asked == ASK_TIME
    assert confirmed == f"You are booked for tomorrow morning. {ANYTHING_ELSE}"
    # The booking goes to the tenant's HTTP tool, and a confirmation is texted.
    assert [(c.name, c.arguments) for c in calls] == [
        ("book_appointment", {"when": "tomorrow morning"}),
        ("send_sms", {"body": "ACME: you are booked for tomorrow morning. Call us to change it."}),
    ]


async def test_opening_hours_are_given(session: FlowSession) -> None:
    answer, _ = await turn(session, "What are your opening hours?")

    assert answer.startswith("We are open Monday to Friday, nine to five")
    assert answer.endswith(ANYTHING_ELSE)


async def test_goodbye_ends_the_call(session: FlowSession) -> None:
    answer, calls = await turn(session, "goodbye")

    assert answer == "Thank you for calling ACME. Goodbye!"
    assert [(c.name, c.arguments) for c in calls] == [("end_call", {})]


async def test_speak_to_a_person_transfers_the_call(session: FlowSession) -> None:
    answer, calls = await turn(session, "I want to speak to a person")

    assert answer == "Connecting you to a person now."
    assert [(c.name, c.arguments) for c in calls] == [("transfer_call", {"to": "+15005550009"})]


@pytest.mark.parametrize(
    ("digits", "expected"),
    [("1", ASK_TIME), ("2", "We are open Monday to Friday"), ("0", "Connecting you")],
)
async def test_keypad_alternatives(session: FlowSession, digits: str, expected: str) -> None:
    answer, _ = await turn(session, f"DTMF {digits}")
    assert answer.startswith(expected)


async def test_unrecognised_speech_falls_back_then_goes_to_a_person(session: FlowSession) -> None:
    first, first_calls = await turn(session, "the weather is lovely")
    second, _ = await turn(session, "purple elephants")
    third, third_calls = await turn(session, "banana")

    assert first.startswith("Sorry, I did not catch that.")
    assert first_calls == []
    assert second == first
    assert third == "Connecting you to a person now."
    assert [c.name for c in third_calls] == ["transfer_call"]


async def test_unrecognised_time_is_asked_again(session: FlowSession) -> None:
    await turn(session, "book an appointment")
    answer, _ = await turn(session, "whenever")

    assert answer == "Sorry, which day and time would suit you? For example, tomorrow morning."


async def test_after_booking_yes_returns_to_the_menu_and_no_ends(session: FlowSession) -> None:
    await turn(session, "DTMF 1")
    await turn(session, "next monday")

    more, _ = await turn(session, "yes")
    hours, _ = await turn(session, "opening hours")
    bye, calls = await turn(session, "no thank you")

    assert more == "Sure. What else can I help with?"
    assert hours.startswith("We are open")
    assert bye == "Thank you for calling ACME. Goodbye!"
    assert [c.name for c in calls] == ["end_call"]


@pytest.mark.parametrize(
    ("result", "said"),
    [
        ({"error": "book_appointment answered HTTP 500"}, NOT_BOOKED),
        (
            {"error": "unknown tool 'book_appointment'", "code": MISSING_TOOL_CODE},
            NO_BOOKING_SYSTEM,
        ),
    ],
    ids=["booking-failed", "booking-tool-missing"],
)
async def test_item17_demo_says_it_could_not_book_and_texts_nothing_when_booking_fails(
    session: FlowSession, result: dict[str, Any], said: str
) -> None:
    await turn(session, "book an appointment")
    answer, calls = await turn(session, "tomorrow morning", failing={"book_appointment": result})

    assert answer == f"{said} {ANYTHING_ELSE}"
    assert "could not book" in answer
    assert "You are booked" not in answer
    assert [c.name for c in calls] == ["book_appointment"]
    # The caller can still be helped: the menu of "anything else" goes on.
    person, person_calls = await turn(session, "speak to a person")
    assert person == "Connecting you to a person now."
    assert [c.name for c in person_calls] == ["transfer_call"]
