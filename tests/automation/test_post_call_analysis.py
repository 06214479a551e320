"""The built-in post-call workflow: for agents with ``automation.async_workflows`` the summary,
caller sentiment, success and the agent's own fields are extracted from the transcript (by the
agent's cloud model through the fake Anthropic API, or by the embedded rules) and stored on the
call, labelled with the method that produced them."""

from __future__ import annotations

import json
from typing import Any

from tests.automation.helpers import make_agent, make_call, make_tenant
from tests.automation.workflow_helpers import automation, call_ended, finished
from tests.fakes.anthropic import DEFAULT_API_KEY, FakeAnthropic
from tests.fakes.llm_server import Reply

from aybiza.agents.demo import DEMO_AGENT, NOT_BOOKED
from aybiza.agents.flow_spec import FlowSpec
from aybiza.analytics.automation_records import analysis_for_call, workflow_runs_for_call
from aybiza.automation.workflows.analysis import agent_analysis_fields
from aybiza.automation.workflows.embedded import flow_slots
from aybiza.config import Settings
from aybiza.providers.registry import EngineRegistry
from aybiza.security.secretbox import HmacSecretBox
from aybiza.store.automation_models import ToolCallRecord
from aybiza.store.database import Database

FLOW_AGENT: dict[str, Any] = {
    "name": "Bistro",
    "automation": {"async_workflows": True},
    "analysis": {
        "fields": {
            "day": "The day the caller wants a table",
            "email": "The caller's email address",
            "party_size": "Number of guests",
        }
    },
    "flow": {
        "start": "ask_day",
        "nodes": {
            "ask_day": {
                "type": "listen",
                "branches": [{"next": "ask_email"}],
                "capture": "day",
            },
            "ask_email": {
                "type": "listen",
                "prompt": "And your email?",
                "branches": [{"next": "done"}],
                "capture": "contact",
            },
            "done": {"type": "end", "text": "Booked for {{day}}. Goodbye."},
        },
    },
}
LINES = [
    ("caller", "Friday please."),
    ("agent", "And your email?"),
    ("caller", "It is jo@example.com, thanks, great service"),
    ("agent", "Booked for Friday please. Goodbye."),
]
CLAUDE_AGENT: dict[str, Any] = {
    "name": "Concierge",
    "system_prompt": "You book tables.",
    "models": {"default": "claude-3-5-haiku"},
    "automation": {"async_workflows": True},
    "analysis": {"fields": {"day": "The day the caller wants a table"}},
}


async def test_without_a_cloud_model_the_embedded_rules_analyse_the_call_and_it_is_stored(
    database: Database, box: HmacSecretBox
) -> None:
    engine = automation(database, box)
    tenant = await make_tenant(database)
    version = await make_agent(database, tenant, FLOW_AGENT)
    call_id = await make_call(database, tenant, version, lines=LINES)
    await engine.start()
    try:
        [run_id] = await call_ended(engine, call_id)
        assert (await finished(database, run_id)).status == "completed"
    finally:
        await engine.stop()
    async with database.session() as session:
        analysis = await analysis_for_call(session, call_id)
        runs = await workflow_runs_for_call(session, call_id)
    assert analysis is not None
    assert analysis["method"] == "embedded-rules"
    assert analysis["fields"] == {
        "day": "Friday please",
        "email": "jo@example.com",
        "party_size": None,
    }
    assert analysis["sentiment"] == "positive"
    assert analysis["success"] is False and "party_size" in analysis["success_reason"]
    assert analysis["summary"].startswith("The caller said: \u201cIt is jo@example.com")
    assert "ended by the agent" in analysis["summary"]
    assert [(r["name"], r["status"]) for r in runs] == [("post_call_analysis", "completed")]


async def test_agents_without_async_workflows_get_no_post_call_run(
    database: Database, box: HmacSecretBox
) -> None:
    engine = automation(database, box)
    tenant = await make_tenant(database)
    version = await make_agent(database, tenant, {**FLOW_AGENT, "automation": {}})
    call_id = await make_call(database, tenant, version, lines=LINES)
    assert await call_ended(engine, call_id) == []


async def test_with_the_agents_cloud_model_the_analysis_is_the_models_json(
    database: Database, box: HmacSecretBox
) -> None:
    answer = {
        "summary": "The caller booked a table for Friday.",
        "sentiment": "positive",
        "success": True,
        "success_reason": "The table was booked.",
        "fields": {"day": "Friday"},
    }
    async with FakeAnthropic() as fake:
        fake.script(Reply(text="```json\n" + json.dumps(answer) + "\n```"))
        registry = EngineRegistry(
            Settings(anthropic_api_key=DEFAULT_API_KEY, anthropic_base_url=fake.url)
        )
        engine = automation(database, box, registry=registry)
        tenant = await make_tenant(database)
        version = await make_agent(database, tenant, CLAUDE_AGENT)
        call_id = await make_call(database, tenant, version, lines=LINES)
        await engine.start()
        try:
            [run_id] = await call_ended(engine, call_id)
            assert (await finished(database, run_id)).status == "completed"
        finally:
            await engine.stop()
            await registry.aclose()
        [request] = fake.requests
    async with database.session() as session:
        analysis = await analysis_for_call(session, call_id)
    assert analysis is not None
    assert analysis["method"] == "model:anthropic/claude-3-5-haiku"
    assert analysis["summary"] == answer["summary"] and analysis["success"] is True
    assert analysis["fields"] == {"day": "Friday"}
    assert "exactly one JSON object" in json.dumps(request.body["system"])
    prompt = json.dumps(request.body["messages"])
    assert "Caller: Friday please." in prompt and '\\"day\\": The day the caller wants' in prompt


async def test_a_model_answer_that_is_not_json_falls_back_to_the_embedded_rules(
    database: Database, box: HmacSecretBox
) -> None:
    async with FakeAnthropic() as fake:
        fake.script(Reply(text="Sure! The caller wanted Friday."))
        registry = EngineRegistry(
            Settings(anthropic_api_key=DEFAULT_API_KEY, anthropic_base_url=fake.url)
        )
        engine = automation(database, box, registry=registry)
        tenant = await make_tenant(database)
        version = await make_agent(database, tenant, CLAUDE_AGENT)
        call_id = await make_call(database, tenant, version, lines=LINES)
        try:
            result = await engine.analyzer.analyze(call_id, fields={"day": "The day"})
        finally:
            await registry.aclose()
            await engine.sender.aclose()
    assert result["method"] == "embedded-rules (the model's answer was not JSON)"
    assert result["sentiment"] == "positive"


GREETING = "Hello, thank you for calling ACME support. How can I help you today?"
GOOD_BOOKING = [
    ("agent", GREETING),
    ("caller", "I would like to book an appointment."),
    ("agent", "What day and time would suit you?"),
    ("caller", "Tomorrow morning."),
    ("agent", "You are booked for Tomorrow morning. Is there anything else I can help with?"),
    ("caller", "No, thank you."),
    ("agent", "Thank you for calling ACME. Goodbye!"),
]


async def record_tool_call(
    database: Database, tenant: str, call_id: str, name: str, outcome: str
) -> None:
    """The runner's record of the demo flow's first tool call (its id is the flow's)."""
    async with database.writing() as session:
        session.add(
            ToolCallRecord(
                tenant_id=tenant,
                call_id=call_id,
                tool_call_id=f"flow-{call_id}-1",
                name=name,
                kind="http",
                arguments={"when": "Tomorrow morning"},
                result={} if outcome == "ok" else {"error": "HTTP 500"},
                outcome=outcome,
            )
        )


async def analyse_demo_call(
    database: Database, box: HmacSecretBox, lines: list[tuple[str, str]], booking_outcome: str
) -> dict[str, Any]:
    engine = automation(database, box)
    tenant = await make_tenant(database)
    version = await make_agent(database, tenant, DEMO_AGENT)
    call_id = await make_call(database, tenant, version, lines=lines)
    await record_tool_call(database, tenant, call_id, "book_appointment", booking_outcome)
    try:
        return await engine.analyzer.analyze(call_id, fields=agent_analysis_fields(DEMO_AGENT))
    finally:
        await engine.sender.aclose()


async def test_item18_no_thank_you_after_a_booking_is_a_positive_successful_call(
    database: Database, box: HmacSecretBox
) -> None:
    result = await analyse_demo_call(database, box, GOOD_BOOKING, "ok")

    assert result["method"] == "embedded-rules"
    assert result["sentiment"] == "positive"
    assert result["success"] is True, result["success_reason"]
    assert result["fields"] == {"when": "Tomorrow morning"}


async def test_item18_a_booking_that_failed_is_still_a_failed_call_however_polite(
    database: Database, box: HmacSecretBox
) -> None:
    lines = list(GOOD_BOOKING)
    lines[4] = ("agent", f"{NOT_BOOKED} Is there anything else I can help with?")

    result = await analyse_demo_call(database, box, lines, "http_error")

    assert result["sentiment"] == "positive"
    assert result["success"] is False
    assert "could not book" in result["success_reason"]


BRANCHING_FLOW = FlowSpec.model_validate(
    {
        "start": "ask_day",
        "nodes": {
            "ask_day": {"type": "listen", "capture": "day", "branches": [{"next": "book"}]},
            "book": {
                "type": "tool",
                "tool": "book_table",
                "arguments": {"day": "{{day}}"},
                "next": "ask_email",
                "on_error": "ask_phone",
            },
            "ask_email": {"type": "listen", "capture": "email", "branches": [{"next": "done"}]},
            "ask_phone": {"type": "listen", "capture": "phone", "branches": [{"next": "done"}]},
            "done": {"type": "end", "text": "Goodbye."},
        },
    }
)


async def test_the_replay_follows_each_tool_call_as_it_was_answered_during_the_call() -> None:
    turns = ["Friday", "it is 555 0100"]
    recorded = "flow-CA9-1"

    worked = await flow_slots(BRANCHING_FLOW, turns, "CA9", {recorded: "ok"})
    failed = await flow_slots(BRANCHING_FLOW, turns, "CA9", {recorded: "http_error"})
    missing = await flow_slots(BRANCHING_FLOW, turns, "CA9", {recorded: "unknown_tool"})

    assert worked == {"day": "Friday", "email": "it is 555 0100"}
    assert failed == missing == {"day": "Friday", "phone": "it is 555 0100"}


async def test_the_models_prompt_asks_about_the_whole_call_and_lists_the_tools_outcomes(
    database: Database, box: HmacSecretBox
) -> None:
    answer = {"summary": "s", "sentiment": "positive", "success": False, "fields": {"day": None}}
    async with FakeAnthropic() as fake:
        fake.script(Reply(text=json.dumps(answer)))
        registry = EngineRegistry(
            Settings(anthropic_api_key=DEFAULT_API_KEY, anthropic_base_url=fake.url)
        )
        engine = automation(database, box, registry=registry)
        tenant = await make_tenant(database)
        version = await make_agent(database, tenant, CLAUDE_AGENT)
        call_id = await make_call(database, tenant, version, lines=LINES)
        await record_tool_call(database, tenant, call_id, "book_table", "http_error")
        try:
            result = await engine.analyzer.analyze(call_id, fields={"day": "The day"})
        finally:
            await registry.aclose()
            await engine.sender.aclose()
        [request] = fake.requests
    prompt = json.dumps(request.body["messages"])
    assert "Judge the whole call, not its last line" in prompt
    assert "No, thank you" in prompt and "book_table: http_error" in prompt
    assert result["success"] is False and result["sentiment"] == "positive"
