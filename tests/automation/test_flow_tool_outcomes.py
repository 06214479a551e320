"""A flow's tool node hears the real tool runner's outcome: the demo agent books through the
tenant's HTTP tool and confirms only a booking that worked; a failing or missing booking tool
is owned up to and no confirmation text is sent."""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.automation.helpers import Controls, make_agent, make_call, make_tenant
from tests.automation.receiver import Answer, Receiver
from tests.automation.workflow_helpers import automation

from aybiza.agents.demo import DEMO_AGENT, NO_BOOKING_SYSTEM, NOT_BOOKED, demo_agent_config
from aybiza.agents.flow_spec import CALL_CONTROL_TOOLS
from aybiza.analytics.automation_records import tool_calls_for_call
from aybiza.automation.tool_runner import AgentToolRunner
from aybiza.automation.tool_specs import ToolCreate
from aybiza.providers.base import LlmRequest, Message, TextDelta, ToolCall, ToolResult
from aybiza.providers.llm.flow import FlowEngine, FlowSession
from aybiza.security.secretbox import HmacSecretBox
from aybiza.store.database import Database

ANYTHING_ELSE = "Is there anything else I can help with?"
BOOKING_SCHEMA = {
    "type": "object",
    "properties": {"when": {"type": "string"}},
    "required": ["when"],
}


@dataclass
class Exchange:
    """What one caller turn produced across the call loop's tool rounds."""

    spoken: list[str] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)
    results: list[ToolResult] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(self.spoken)


async def exchange(session: FlowSession, runner: AgentToolRunner, text: str) -> Exchange:
    """One caller turn the way the call loop runs it: answer, run the tools through the runner,
    ask again with their results, until an answer makes no tool call."""
    done = Exchange()
    messages = [Message(role="user", text=text)]
    while True:
        said = ""
        calls: list[ToolCall] = []
        async for event in session.respond(LlmRequest(system="", messages=tuple(messages))):
            if isinstance(event, TextDelta):
                said += event.text
            elif isinstance(event, ToolCall):
                calls.append(event)
        if said:
            done.spoken.append(said)
        done.calls.extend(calls)
        tools = [call for call in calls if call.name not in CALL_CONTROL_TOOLS]
        if not tools:
            return done
        results = [await runner.run(call) for call in tools]
        done.results.extend(results)
        messages += [
            Message(role="assistant", tool_calls=tools),
            Message(role="user", tool_results=results),
        ]


async def book_tomorrow(
    database: Database, box: HmacSecretBox, receiver: Receiver | None
) -> tuple[Exchange, list[dict[str, object]]]:
    """A demo call that asks to book for tomorrow morning; the tenant's booking tool points at
    ``receiver`` (None: the tenant defined no booking tool). Returns the booking turn and the
    stored tool calls."""
    engine = automation(database, box)
    tenant = await make_tenant(database)
    if receiver is not None:
        made = await engine.tools.create(
            tenant,
            ToolCreate.model_validate(
                {
                    "name": "book_appointment",
                    "description": "Book an appointment at ACME.",
                    "parameters": BOOKING_SCHEMA,
                    "options": {"url": receiver.url("/bookings")},
                }
            ),
        )
        receiver.secret = made.secret
    version = await make_agent(database, tenant, DEMO_AGENT)
    call_id = await make_call(database, tenant, version, ended_reason=None)
    config = demo_agent_config()
    assert config.flow is not None
    kit = await engine.tool_kit(tenant_id=tenant, agent_config=config, call_id=call_id)
    runner = kit.bind(Controls(call_id))
    session = FlowEngine(config.flow).open_session(call_id)
    try:
        asked = await exchange(session, runner, "I would like to book an appointment")
        assert asked.text == "What day and time would suit you?"
        booking = await exchange(session, runner, "tomorrow morning")
        await runner.flush()
        async with database.session() as db:
            records = await tool_calls_for_call(db, call_id)
    finally:
        await runner.aclose()
        await engine.sender.aclose()
    return booking, records


async def test_a_booking_that_worked_is_confirmed_and_texted(
    database: Database, box: HmacSecretBox, receiver: Receiver
) -> None:
    booking, records = await book_tomorrow(database, box, receiver)

    assert booking.text == f"You are booked for tomorrow morning. {ANYTHING_ELSE}"
    assert [call.name for call in booking.calls] == ["book_appointment", "send_sms"]
    assert receiver.to("/bookings")[0].json == {"when": "tomorrow morning"}
    # No Twilio account in these tests: the text is attempted (and fails) only after a booking.
    assert [(r["name"], r["outcome"]) for r in records] == [
        ("book_appointment", "ok"),
        ("send_sms", "error"),
    ]


async def test_item17_a_booking_tool_answering_500_is_owned_up_to_and_nothing_is_texted(
    database: Database, box: HmacSecretBox, receiver: Receiver
) -> None:
    receiver.script("/bookings", Answer(status=500, json_body={"error": "calendar is down"}))

    booking, records = await book_tomorrow(database, box, receiver)

    assert booking.text == f"{NOT_BOOKED} {ANYTHING_ELSE}"
    assert [call.name for call in booking.calls] == ["book_appointment"]
    assert [result.is_error for result in booking.results] == [True]
    assert [(r["name"], r["outcome"]) for r in records] == [("book_appointment", "http_error")]


async def test_item17_a_missing_booking_tool_is_owned_up_to_and_nothing_is_texted(
    database: Database, box: HmacSecretBox
) -> None:
    booking, records = await book_tomorrow(database, box, None)

    assert booking.text == f"{NO_BOOKING_SYSTEM} {ANYTHING_ELSE}"
    assert [call.name for call in booking.calls] == ["book_appointment"]
    [result] = booking.results
    assert result.is_error and result.content["code"] == "unknown_tool"
    assert [(r["name"], r["outcome"]) for r in records] == [("book_appointment", "unknown_tool")]
