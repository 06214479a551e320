"""The answer loop's tool rounds against FakeBedrock and real HTTP tools: a barge-in during a
tool call leaves every tool use answered (item 13), the turn's tool calls are capped and the
model then answers without tools (item 14), and what follows tool results goes to the complex
model (item 15)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.fakes.llm_server import RecordedRequest, Reply, ToolUse

from aybiza.analytics.automation_records import tool_calls_for_call
from aybiza.pipeline.answer import AgentAnswer
from aybiza.pipeline.tool_batch import (
    CANCELLED_BEFORE_IT_RAN,
    CANCELLED_WHILE_RUNNING,
    FINISHING,
)
from aybiza.providers.base import ToolResult
from aybiza.providers.llm.prompting import NO_MORE_TOOLS

from .answer_stack import COMPLEX_ID, FAST_ID, ROUTER, AnswerStack, answer_stack

WAIT_S = 15.0  # a guard against a hang, not a speed claim: the suite runs on a loaded machine


@pytest.fixture(autouse=True)
def dummy_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK"):
        monkeypatch.delenv(name, raising=False)
    yield


def blocks(request: RecordedRequest, kind: str) -> list[dict[str, Any]]:
    """Every ``kind`` block (``toolUse``/``toolResult``) of a recorded ConverseStream body."""
    return [
        block[kind]
        for message in request.body["messages"]
        for block in message["content"]
        if kind in block
    ]


def last_results(stack: AnswerStack) -> dict[str, ToolResult]:
    message = stack.conversation.messages[-1]
    return {result.tool_call_id: result for result in message.tool_results}


async def run(answer: AgentAnswer) -> AgentAnswer:
    await asyncio.wait_for(answer.run(), WAIT_S)
    return answer


async def barge_in(task: asyncio.Task[None]) -> None:
    """What the call loop does when the caller interrupts: cancel the answer and wait for it."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, WAIT_S)


BOOKING = Reply(
    text="Let me book that.",
    tool=ToolUse("check_availability", {"party_size": 4}, "tu_check"),
    more_tools=(
        ToolUse("book_table", {"party_size": 4}, "tu_book"),
        ToolUse("send_confirmation", {"party_size": 4}, "tu_confirm"),
    ),
)
TOOLS: dict[str, dict[str, Any]] = {
    "check_availability": {},
    "book_table": {},
    "send_confirmation": {},
}


async def test_item13_barge_in_during_a_tool_call_leaves_every_tool_use_with_a_result(
    tmp_path: Path,
) -> None:
    async with answer_stack(tmp_path, TOOLS) as stack:
        stack.bedrock.script(BOOKING)
        stack.receiver.hold("/book_table")
        stack.conversation.add_user("A table for four tonight, please.")
        first = stack.answer()
        task = asyncio.create_task(first.run())
        await stack.receiver.arrived("/book_table", WAIT_S)
        await barge_in(task)  # the caller talks while book_table is running

        results = last_results(stack)
        assert set(results) == {"tu_check", "tu_book", "tu_confirm"}
        assert not results["tu_check"].is_error  # it had run: recorded as done
        assert results["tu_book"] == ToolResult(
            "tu_book", {"error": CANCELLED_WHILE_RUNNING}, is_error=True
        )
        assert results["tu_confirm"] == ToolResult(
            "tu_confirm", {"error": CANCELLED_BEFORE_IT_RAN}, is_error=True
        )
        # Cancelled before it ran: never applied at its target.
        assert stack.receiver.to("/send_confirmation") == []
        assert [run.get("cancelled") for run in first.tool_runs] == [
            None,
            "while running",
            "before it ran",
        ]

        # The caller's next words: the request carries a result for every tool use, so
        # Bedrock (the fake refuses as Bedrock does) answers instead of a ValidationException.
        stack.receiver.release("/book_table")
        stack.conversation.add_user("Actually, make it five.")
        second = await run(stack.answer())
        assert second.error is None, second.error
        request = stack.bedrock.requests[-1]
        used = {block["toolUseId"] for block in blocks(request, "toolUse")}
        answered = {block["toolUseId"] for block in blocks(request, "toolResult")}
        assert used == answered == {"tu_check", "tu_book", "tu_confirm"}
        await stack.runner.flush()
        async with stack.database.session() as session:
            records = await tool_calls_for_call(session, stack.call_id)
        assert [(r["name"], r["outcome"]) for r in records] == [
            ("check_availability", "ok"),
            ("book_table", "cancelled"),
        ]


async def test_item13_a_tool_that_finishes_on_barge_in_is_recorded_as_done_in_the_context(
    tmp_path: Path,
) -> None:
    tools: dict[str, dict[str, Any]] = {"book_table": {"finish_on_barge_in": True}}
    async with answer_stack(tmp_path, tools) as stack:
        stack.bedrock.script(Reply(text="", tool=ToolUse("book_table", {"party_size": 2}, "tu_1")))
        stack.receiver.hold("/book_table")
        stack.conversation.add_user("Book for two.")
        task = asyncio.create_task(stack.answer().run())
        await stack.receiver.arrived("/book_table", WAIT_S)
        await barge_in(task)
        assert last_results(stack)["tu_1"] == ToolResult("tu_1", {"status": FINISHING})

        stack.receiver.release("/book_table")
        await stack.runner.flush()
        for _ in range(200):  # the shielded tool finishes on its own task
            if last_results(stack)["tu_1"].content != {"status": FINISHING}:
                break
            await asyncio.sleep(0.01)
        done = last_results(stack)["tu_1"]
        assert not done.is_error and done.content["status"] == 200
        assert len(stack.receiver.to("/book_table")) == 1


async def test_item14_a_model_that_always_asks_for_a_tool_makes_max_tool_calls_plus_one_requests(
    tmp_path: Path,
) -> None:
    always_a_tool = Reply(text="", tool=ToolUse("lookup", {"party_size": 1}))
    async with answer_stack(tmp_path, {"lookup": {}}, default=always_a_tool) as stack:
        stack.conversation.add_user("What tables do you have?")
        answer = await run(stack.answer(max_tool_calls=3))
        requests = stack.bedrock.requests
        assert len(requests) == 4  # three tool rounds, then one answer without tools
        assert len(stack.receiver.to("/lookup")) == 3
        assert all("toolConfig" in r.body for r in requests[:3])
        closing = requests[3].body
        # Bedrock has no toolChoice "none": the tools are removed from the request, and the
        # turn's tool blocks written as text (Bedrock refuses tool blocks without toolConfig).
        assert "toolConfig" not in closing
        assert blocks(requests[3], "toolUse") == blocks(requests[3], "toolResult") == []
        assert NO_MORE_TOOLS in closing["system"][0]["text"]
        assert answer.error is None
        assert answer.spoken_text  # the caller hears an answer in words


async def test_item15_the_request_after_tool_results_and_the_next_turn_use_the_complex_model(
    tmp_path: Path,
) -> None:
    async with answer_stack(tmp_path, {"lookup": {}}) as stack:
        stack.bedrock.script(
            Reply(text="Let me look.", tool=ToolUse("lookup", {"party_size": 2})),
            Reply(text="We have a table at eight."),
            Reply(text="You are welcome."),
        )
        stack.conversation.add_user("Any tables tonight?")
        choice = ROUTER.choose("Any tables tonight?")
        assert choice.tier == "fast"
        first = await run(
            stack.answer(choice.models, models_after_tools=ROUTER.after_tool_results().models)
        )
        assert first.asked_for_tools
        stack.conversation.add_agent(first.spoken_text)

        # The next turn follows a tool call: the call loop routes it with ``after_tool_use``.
        stack.conversation.add_user("Thanks")
        next_turn = ROUTER.choose("Thanks", after_tool_use=first.asked_for_tools)
        await run(stack.answer(next_turn.models))
        assert [r.model for r in stack.bedrock.requests] == [FAST_ID, COMPLEX_ID, COMPLEX_ID]
