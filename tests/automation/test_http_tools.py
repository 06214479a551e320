"""HTTP tools against a local endpoint that checks the signature with its own hmac lines:
arguments validated first, signed JSON body, response mapped back, retries only for idempotent
tools, timeouts, truncation, and every call recorded with secrets redacted."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from tests.automation.helpers import Controls, make_call, make_tenant
from tests.automation.receiver import Answer, Receiver
from tests.fakes.loopback import LOOPBACK_CIDRS, LOOPBACK_NETWORKS, LoopbackOnlyNetwork

from aybiza.agents.schema import AgentConfig, validate_agent_config
from aybiza.analytics.automation_records import tool_calls_for_call
from aybiza.automation.tool_runner import AgentToolRunner, load_tool_kit
from aybiza.automation.tool_specs import ToolCreate
from aybiza.automation.tool_store import ToolService
from aybiza.config import Settings
from aybiza.outbound.guard import Guard
from aybiza.outbound.sender import Sender
from aybiza.providers.base import ToolCall
from aybiza.security.secretbox import HmacSecretBox
from aybiza.store.automation_models import ToolCallRecord
from aybiza.store.database import Database

AGENT = validate_agent_config({"name": "Bookings", "system_prompt": "Book tables."})
BOOKING_SCHEMA = {
    "type": "object",
    "properties": {
        "date": {"type": "string", "format": "date"},
        "party_size": {"type": "integer", "minimum": 1, "maximum": 20},
        "card_number": {"type": "string"},
    },
    "required": ["date", "party_size"],
    "additionalProperties": False,
}
# The operator allows loopback (the tests' receiver); sockets can reach nothing else.
LOOPBACK_ALLOWED = Settings(outbound_allow_cidrs=LOOPBACK_NETWORKS)


async def tool_runner(
    database: Database,
    box: HmacSecretBox,
    receiver: Receiver,
    *,
    options: dict[str, Any] | None = None,
    name: str = "book_table",
    schema: dict[str, Any] | None = None,
    url: str | None = None,
    sender: Sender | None = None,
    agent: AgentConfig = AGENT,
) -> tuple[AgentToolRunner, str]:
    """A call's runner with one HTTP tool calling ``url`` (default: the receiver's ``/book``),
    sent through ``sender`` (default: the runner's own, loopback allowed and loopback only)."""
    tenant = await make_tenant(database)
    created = await ToolService(database, box, Guard(LOOPBACK_CIDRS)).create(
        tenant,
        ToolCreate.model_validate(
            {
                "name": name,
                "description": "Book a table.",
                "parameters": schema or BOOKING_SCHEMA,
                "options": {"url": url or receiver.url("/book"), **(options or {})},
            }
        ),
    )
    receiver.secret = created.secret
    call_id = await make_call(database, tenant, ended_reason=None)
    runner = (
        await load_tool_kit(
            tenant_id=tenant,
            agent_config=agent,
            call_id=call_id,
            database=database,
            box=box,
            settings=LOOPBACK_ALLOWED,
            sender=sender,
            network=LoopbackOnlyNetwork(),
            tool_names=[name],
        )
    ).bind(Controls(call_id))
    return runner, call_id


async def test_arguments_are_posted_as_signed_json_and_the_answer_goes_back_to_the_model(
    database: Database, box: HmacSecretBox, receiver: Receiver
) -> None:
    runner, call_id = await tool_runner(
        database, box, receiver, options={"headers": {"X-Api-Key": "tenant-key-123"}}
    )
    receiver.script("/book", Answer(json_body={"confirmation": "BK-42", "time": "19:00"}))
    try:
        result = await runner.run(
            ToolCall("t1", "book_table", {"date": "2026-12-24", "party_size": 2})
        )
    finally:
        await runner.aclose()
    assert not result.is_error
    assert result.content == {"status": 200, "data": {"confirmation": "BK-42", "time": "19:00"}}
    [seen] = receiver.to("/book")
    assert seen.method == "POST" and seen.signed is True
    assert seen.json == {"date": "2026-12-24", "party_size": 2}
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["x-api-key"] == "tenant-key-123"
    assert seen.headers["aybiza-tool"] == "book_table"
    assert seen.headers["aybiza-call-id"] == call_id
    assert seen.key == f"{call_id}:t1"


async def test_invalid_arguments_go_back_to_the_model_naming_the_field_and_never_reach_the_target(
    database: Database, box: HmacSecretBox, receiver: Receiver
) -> None:
    runner, call_id = await tool_runner(database, box, receiver)
    try:
        missing = await runner.run(ToolCall("t1", "book_table", {"party_size": 2}))
        too_small = await runner.run(
            ToolCall("t2", "book_table", {"date": "2026-12-24", "party_size": 0})
        )
        bad_date = await runner.run(ToolCall("t3", "book_table", {"date": "soon", "party_size": 2}))
        unknown = await runner.run(
            ToolCall("t4", "book_table", {"date": "2026-12-24", "party_size": 2, "vip": True})
        )
    finally:
        await runner.aclose()
    assert all(r.is_error for r in (missing, too_small, bad_date, unknown))
    assert "date: is required" in missing.content["error"]
    assert "party_size: 0 is less than the minimum of 1" in too_small.content["error"]
    assert "date: 'soon' is not a 'date'" in bad_date.content["error"]
    assert "vip: is not an argument of this tool" in unknown.content["error"]
    assert receiver.seen == []
    async with database.session() as session:
        outcomes = [row["outcome"] for row in await tool_calls_for_call(session, call_id)]
    assert outcomes == ["invalid_arguments"] * 4


async def test_an_idempotent_tool_is_retried_after_a_server_error_with_the_same_key(
    database: Database, box: HmacSecretBox, receiver: Receiver
) -> None:
    runner, call_id = await tool_runner(
        database, box, receiver, options={"idempotent": True, "retries": 2}
    )
    receiver.script("/book", Answer(status=503), Answer(status=502))
    try:
        result = await runner.run(
            ToolCall("t1", "book_table", {"date": "2026-12-24", "party_size": 2})
        )
    finally:
        await runner.aclose()
    assert not result.is_error
    seen = receiver.to("/book")
    assert len(seen) == 3
    assert {s.key for s in seen} == {f"{call_id}:t1"}
    async with database.session() as session:
        [row] = await tool_calls_for_call(session, call_id)
    assert row["attempts"] == 3 and row["outcome"] == "ok"


async def test_a_tool_not_marked_idempotent_is_never_retried(
    database: Database, box: HmacSecretBox, receiver: Receiver
) -> None:
    runner, _call_id = await tool_runner(database, box, receiver)
    receiver.script("/book", Answer(status=503, json_body={"error": "busy"}))
    try:
        result = await runner.run(
            ToolCall("t1", "book_table", {"date": "2026-12-24", "party_size": 2})
        )
    finally:
        await runner.aclose()
    assert result.is_error
    assert "answered HTTP 503" in result.content["error"]
    assert result.content["data"] == {"error": "busy"}
    assert len(receiver.to("/book")) == 1


async def test_a_slow_endpoint_times_out_with_an_error_for_the_model(
    database: Database, box: HmacSecretBox, receiver: Receiver
) -> None:
    runner, call_id = await tool_runner(database, box, receiver, options={"timeout_s": 0.5})
    receiver.script("/book", Answer(delay_s=1.5))
    try:
        result = await runner.run(
            ToolCall("t1", "book_table", {"date": "2026-12-24", "party_size": 2})
        )
        assert runner.policy("book_table").timeout_s > 0.5
    finally:
        await runner.aclose()
    assert result.is_error and "no answer within 0.5 s" in result.content["error"]
    async with database.session() as session:
        [row] = await tool_calls_for_call(session, call_id)
    assert row["outcome"] == "timeout"


async def test_a_large_answer_is_truncated_and_says_so(
    database: Database, box: HmacSecretBox, receiver: Receiver
) -> None:
    runner, _call_id = await tool_runner(database, box, receiver)
    receiver.script("/book", Answer(json_body={"slots": ["19:00"] * 2000}))
    try:
        result = await runner.run(
            ToolCall("t1", "book_table", {"date": "2026-12-24", "party_size": 2})
        )
    finally:
        await runner.aclose()
    assert not result.is_error
    assert result.content["truncated"] is True
    assert len(result.content["text"]) == 4000
    assert "only its first 4000 characters are shown" in result.content["note"]


async def test_get_tools_send_arguments_in_the_query_and_sign_it(
    database: Database, box: HmacSecretBox, receiver: Receiver
) -> None:
    runner, _call_id = await tool_runner(database, box, receiver, options={"method": "GET"})
    try:
        result = await runner.run(
            ToolCall("t1", "book_table", {"date": "2026-12-24", "party_size": 2})
        )
    finally:
        await runner.aclose()
    assert not result.is_error
    [seen] = receiver.to("/book")
    assert seen.method == "GET" and seen.body == b""
    assert seen.query == "date=2026-12-24&party_size=2"
    assert seen.signed is True


async def test_every_call_is_recorded_with_secrets_redacted(
    database: Database, box: HmacSecretBox, receiver: Receiver
) -> None:
    runner, call_id = await tool_runner(database, box, receiver)
    receiver.script("/book", Answer(json_body={"ok": True, "api_token": "leak-me-not"}))
    try:
        await runner.run(
            ToolCall(
                "t1",
                "book_table",
                {"date": "2026-12-24", "party_size": 2, "card_number": "4111111111111111"},
            )
        )
    finally:
        await runner.aclose()
    async with database.session() as session:
        [row] = (await session.execute(select(ToolCallRecord))).scalars().all()
        listed = await tool_calls_for_call(session, call_id)
    assert row.arguments == {"date": "2026-12-24", "party_size": 2, "card_number": "[redacted]"}
    assert row.result["data"] == {"ok": True, "api_token": "[redacted]"}
    assert row.outcome == "ok" and row.duration_ms > 0 and row.finished_at >= row.started_at
    assert listed[0]["name"] == "book_table" and listed[0]["kind"] == "http"


async def test_the_tool_gets_what_the_caller_said_and_the_record_keeps_none_of_its_pii(
    database: Database, box: HmacSecretBox, receiver: Receiver
) -> None:
    redacting = validate_agent_config(
        {
            "name": "Bookings",
            "system_prompt": "Book tables.",
            "redaction": {"categories": ["email", "credit_card"]},
        }
    )
    schema = {
        "type": "object",
        "properties": {"contact": {"type": "string"}, "notes": {"type": "string"}},
        "additionalProperties": False,
    }
    runner, _call_id = await tool_runner(database, box, receiver, schema=schema, agent=redacting)
    receiver.script("/book", Answer(json_body={"sent_to": "john.smith@example.com"}))
    said = {"contact": "john.smith@example.com", "notes": "deposit on card 4111 1111 1111 1111"}
    try:
        result = await runner.run(ToolCall("t1", "book_table", said))
    finally:
        await runner.aclose()
    [seen] = receiver.to("/book")
    assert seen.json == said
    assert result.content["data"] == {"sent_to": "john.smith@example.com"}
    async with database.session() as session:
        [row] = (await session.execute(select(ToolCallRecord))).scalars().all()
    assert row.arguments == {"contact": "[EMAIL]", "notes": "deposit on card [CREDIT_CARD]"}
    assert row.result["data"] == {"sent_to": "[EMAIL]"}


async def test_tools_are_looked_up_by_tenant_so_another_tenants_tool_is_unknown(
    database: Database, box: HmacSecretBox, receiver: Receiver
) -> None:
    owner, _call_id = await tool_runner(database, box, receiver)
    await owner.aclose()
    other = await make_tenant(database)
    call_id = await make_call(database, other, ended_reason=None)
    runner = (
        await load_tool_kit(
            tenant_id=other,
            agent_config=AGENT,
            call_id=call_id,
            database=database,
            box=box,
            settings=LOOPBACK_ALLOWED,
            network=LoopbackOnlyNetwork(),
            tool_names=["book_table"],
        )
    ).bind(Controls(call_id))
    try:
        assert runner.specs() == ()
        result = await runner.run(
            ToolCall("t1", "book_table", {"date": "2026-12-24", "party_size": 2})
        )
    finally:
        await runner.aclose()
    assert result.is_error and "unknown tool 'book_table'" in result.content["error"]
    assert receiver.seen == []
