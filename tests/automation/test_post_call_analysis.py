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

from aybiza.analytics.automation_records import analysis_for_call, workflow_runs_for_call
from aybiza.config import Settings
from aybiza.providers.registry import EngineRegistry
from aybiza.security.secretbox import HmacSecretBox
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
