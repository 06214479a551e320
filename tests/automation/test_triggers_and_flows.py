"""Tool calls from the embedded flow engine go through the same runner; a stored tool call
triggers ``tool.completed`` workflows; the process facade wires both."""

from __future__ import annotations

from typing import Any

from tests.automation.helpers import Controls, make_agent, make_call, make_tenant
from tests.automation.receiver import Receiver
from tests.automation.workflow_helpers import automation, finished

from aybiza.agents.schema import validate_agent_config
from aybiza.analytics.automation_records import tool_calls_for_call
from aybiza.automation.tool_runner import attached_tool_names
from aybiza.automation.tool_specs import ToolCreate
from aybiza.automation.workflows.spec import WorkflowCreate
from aybiza.providers.base import LlmRequest, Message, ToolCall
from aybiza.providers.llm.flow import FlowEngine
from aybiza.security.secretbox import HmacSecretBox
from aybiza.store.automation_models import WorkflowRun
from aybiza.store.database import Database
from aybiza.store.writer import StoreWriter

FLOW_AGENT: dict[str, Any] = {
    "name": "Bistro",
    "flow": {
        "start": "ask_day",
        "nodes": {
            "ask_day": {"type": "listen", "branches": [{"next": "book"}], "capture": "day"},
            "book": {
                "type": "tool",
                "tool": "book_table",
                "arguments": {"day": "{{day}}", "party_size": 2},
                "next": "done",
            },
            "done": {"type": "end", "text": "You are booked for {{day}}. Goodbye."},
        },
    },
}
SCHEMA = {
    "type": "object",
    "properties": {"day": {"type": "string"}, "party_size": {"type": "integer"}},
    "required": ["day", "party_size"],
}


async def test_a_flows_tool_node_runs_through_the_runner_and_triggers_tool_completed_workflows(
    database: Database, box: HmacSecretBox, receiver: Receiver
) -> None:
    writer = StoreWriter(database)
    engine = automation(database, box, writer=writer)
    writer.on_commit(engine.wake)
    writer.start()
    await engine.start()
    config = validate_agent_config(FLOW_AGENT)
    assert attached_tool_names(config) == ["book_table"]
    tenant = await make_tenant(database)
    made = await engine.tools.create(
        tenant,
        ToolCreate.model_validate(
            {
                "name": "book_table",
                "description": "Book.",
                "parameters": SCHEMA,
                "options": {"url": receiver.url("/book")},
            }
        ),
    )
    receiver.secret = made.secret
    workflow = await engine.workflows.create(
        tenant,
        WorkflowCreate.model_validate(
            {
                "name": "confirm",
                "trigger": {"event": "tool.completed", "tool": "book_table"},
                "steps": [
                    {
                        "id": "tell_crm",
                        "type": "http",
                        "url": receiver.url("/crm"),
                        "body": {"tool": "{{tool.name}}", "day": "{{tool.arguments.day}}"},
                    }
                ],
            }
        ),
    )
    receiver.path_secrets["/crm"] = workflow.secret
    version = await make_agent(database, tenant, FLOW_AGENT)
    call_id = await make_call(database, tenant, version, ended_reason=None)
    kit = await engine.tool_kit(tenant_id=tenant, agent_config=config, call_id=call_id)
    runner = kit.bind(Controls(call_id))
    session = FlowEngine(config.flow).open_session(call_id)  # type: ignore[arg-type]
    request = LlmRequest(system="", messages=(Message("user", "Friday"),))
    calls = [event async for event in session.respond(request) if isinstance(event, ToolCall)]
    try:
        results = [await runner.run(call) for call in calls if call.name == "book_table"]
        await runner.flush()
        async with database.session() as db:
            [record] = await tool_calls_for_call(db, call_id)
            runs = list((await db.execute(WorkflowRun.__table__.select())).all())
        run = await finished(database, runs[0].id)
    finally:
        await runner.aclose()
        await engine.stop()
        await writer.stop()
    assert [r.is_error for r in results] == [False]
    assert receiver.to("/book")[0].json == {"day": "Friday", "party_size": 2}
    assert record["outcome"] == "ok" and record["arguments"]["day"] == "Friday"
    assert run.status == "completed" and run.trigger_event == "tool.completed"
    [crm] = receiver.to("/crm")
    assert crm.signed and crm.json == {"tool": "book_table", "day": "Friday"}
