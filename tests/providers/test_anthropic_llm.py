"""AnthropicLlm streams Claude answers from the Messages API, run against FakeAnthropic's SSE."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from tests.fakes.anthropic import DEFAULT_API_KEY, FakeAnthropic
from tests.fakes.llm_server import HttpError, Reply, ToolUse

from aybiza.providers.base import (
    AnswerEnd,
    LlmEvent,
    LlmRequest,
    Message,
    TextDelta,
    ToolCall,
    ToolResult,
    ToolSpec,
    Usage,
)
from aybiza.providers.errors import (
    AuthenticationError,
    EngineError,
    EngineTimeoutError,
    EngineUnavailableError,
    InvalidRequestError,
    ThrottledError,
)
from aybiza.providers.llm.anthropic_api import AnthropicLlm
from aybiza.providers.llm.prompting import NO_MORE_TOOLS

HELLO = LlmRequest(system="You are a phone agent.", messages=(Message("user", "Hello?"),))
# A model calls only tools it was given: requests whose reply calls one offer it.
TRANSFER = ToolSpec(
    "transfer_call",
    "Transfer the caller",
    {"type": "object", "properties": {"dept": {"type": "string"}}},
)
WITH_TOOLS = replace(HELLO, tools=(TRANSFER,))
LONG_TEXT = " ".join(f"word{i}" for i in range(60))


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic() as server:
        yield server


@pytest.fixture
async def engine(fake: FakeAnthropic) -> AsyncIterator[AnthropicLlm]:
    llm = AnthropicLlm(api_key=DEFAULT_API_KEY, base_url=fake.url)
    yield llm
    await llm.aclose()


async def collect(engine: AnthropicLlm, request: LlmRequest = HELLO) -> list[LlmEvent]:
    return [event async for event in engine.open_session("call-1").respond(request)]


async def test_text_streams_as_deltas_then_one_answer_end_with_usage(
    engine: AnthropicLlm, fake: FakeAnthropic
) -> None:
    fake.script(Reply(text="Hello, how can I help?", input_tokens=30))
    events = await collect(engine)
    assert events[:-1] == [
        TextDelta("Hello,"),
        TextDelta(" how"),
        TextDelta(" can"),
        TextDelta(" I"),
        TextDelta(" help?"),
    ]
    end = events[-1]
    assert isinstance(end, AnswerEnd)
    assert (end.stop_reason, end.usage) == ("end_turn", Usage(input_tokens=30, output_tokens=5))
    assert end.latency_ms is not None and end.latency_ms >= 0


async def test_input_json_deltas_are_joined_into_one_tool_call(
    engine: AnthropicLlm, fake: FakeAnthropic
) -> None:
    arguments = {"dept": "sales", "note": "wants a quote", "priority": 2}
    fake.script(Reply(text="Transferring you.", tool=ToolUse("transfer_call", arguments, "tu_1")))
    events = await collect(engine, WITH_TOOLS)
    assert events[:3] == [
        TextDelta("Transferring"),
        TextDelta(" you."),
        ToolCall(id="tu_1", name="transfer_call", arguments=arguments),
    ]
    assert isinstance(events[3], AnswerEnd) and events[3].stop_reason == "tool_use"
    assert len(events) == 4


@pytest.mark.parametrize(
    ("stop_reason", "expected"),
    [
        ("max_tokens", "max_tokens"),
        ("stop_sequence", "stop_sequence"),
        ("content_filtered", "content_filtered"),
    ],
)
async def test_stop_reasons_use_bedrock_names(
    engine: AnthropicLlm, fake: FakeAnthropic, stop_reason: str, expected: str
) -> None:
    # The fake sends ``refusal`` for content_filtered, as the Messages API does.
    fake.script(Reply(text="Cut", stop_reason=stop_reason))
    end = (await collect(engine))[-1]
    assert isinstance(end, AnswerEnd) and end.stop_reason == expected


async def test_request_has_key_version_system_messages_and_tools(
    engine: AnthropicLlm, fake: FakeAnthropic
) -> None:
    schema = {"type": "object", "properties": {"dept": {"type": "string"}}, "required": ["dept"]}
    request = LlmRequest(
        system="You are a phone agent.",
        model="claude-3-5-haiku",
        temperature=0.2,
        max_tokens=300,
        language="fr-FR",
        tools=(ToolSpec("transfer_call", "Transfer the caller", schema),),
        messages=(
            Message("assistant", "Bonjour !"),
            Message("user", "Les ventes."),
            Message("assistant", "", [ToolCall("t1", "transfer_call", {"dept": "sales"})]),
            Message("user", "", tool_results=[ToolResult("t1", {"ok": False}, is_error=True)]),
        ),
    )
    await collect(engine, request)
    recorded = fake.requests[0]
    assert recorded.path == "/v1/messages"
    assert recorded.headers["x-api-key"] == DEFAULT_API_KEY
    assert "authorization" not in recorded.headers
    assert recorded.headers["anthropic-version"] == "2023-06-01"
    assert recorded.body == {
        "model": "claude-3-5-haiku-20241022",
        "max_tokens": 300,
        "temperature": 0.2,
        "stream": True,
        "system": "You are a phone agent.\n\nAnswer in French (fr-FR).",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "(The call has connected.)"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Bonjour !"}]},
            {"role": "user", "content": [{"type": "text", "text": "Les ventes."}]},
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "t1",
                        "name": "transfer_call",
                        "input": {"dept": "sales"},
                    }
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": '{"ok": false}',
                        "is_error": True,
                    }
                ],
            },
        ],
        "tools": [
            {"name": "transfer_call", "description": "Transfer the caller", "input_schema": schema}
        ],
    }


async def test_english_without_tools_sends_no_language_line_and_no_tools(
    engine: AnthropicLlm, fake: FakeAnthropic
) -> None:
    await collect(engine)
    body = fake.requests[0].body
    assert body["system"] == "You are a phone agent."
    assert "tools" not in body
    assert body["model"] == "claude-3-7-sonnet-20250219"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (HttpError(429, "rate_limit_error", "slow down"), ThrottledError),
        (HttpError(529, "overloaded_error", "Overloaded"), ThrottledError),
        (HttpError(500, "api_error", "oops"), EngineUnavailableError),
        (HttpError(504, "timeout_error", "too slow"), EngineTimeoutError),
        (HttpError(400, "invalid_request_error", "bad"), InvalidRequestError),
        (HttpError(403, "permission_error", "no access to this model"), InvalidRequestError),
        (HttpError(404, "not_found_error", "no such model"), InvalidRequestError),
    ],
)
async def test_pre_stream_errors_become_typed_errors(
    engine: AnthropicLlm, fake: FakeAnthropic, error: HttpError, expected: type[EngineError]
) -> None:
    fake.script(error)
    with pytest.raises(expected) as raised:
        await collect(engine)
    assert raised.value.engine == "anthropic"
    assert raised.value.status == error.status
    assert error.message in str(raised.value)


async def test_a_wrong_api_key_is_an_authentication_error(fake: FakeAnthropic) -> None:
    engine = AnthropicLlm(api_key="sk-ant-wrong", base_url=fake.url)
    with pytest.raises(AuthenticationError, match="invalid x-api-key"):
        await collect(engine)
    await engine.aclose()


@pytest.mark.parametrize(
    ("error_type", "expected"),
    [("overloaded_error", ThrottledError), ("api_error", EngineUnavailableError)],
)
async def test_mid_stream_error_events_become_typed_errors_after_the_deltas_sent(
    engine: AnthropicLlm, fake: FakeAnthropic, error_type: str, expected: type[EngineError]
) -> None:
    fake.script(Reply(text="One two three four", fail_after=2, fail_with=error_type))
    received: list[LlmEvent] = []
    with pytest.raises(expected, match=error_type):
        async for event in engine.open_session("call-1").respond(HELLO):
            received.append(event)
    assert received == [TextDelta("One"), TextDelta(" two")]


async def test_unreachable_server_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    engine = AnthropicLlm(api_key=DEFAULT_API_KEY, base_url=f"http://127.0.0.1:{port}")
    with pytest.raises(EngineUnavailableError):
        await collect(engine)
    await engine.aclose()


async def test_closing_the_answer_mid_stream_closes_the_connection(
    engine: AnthropicLlm, fake: FakeAnthropic
) -> None:
    fake.script(Reply(text=LONG_TEXT, inter_token_ms=20))
    answer = engine.open_session("call-1").respond(HELLO)
    assert await anext(answer) == TextDelta("word0")
    await answer.aclose()
    await fake.wait_disconnect(timeout_s=5)


async def test_cancelling_the_consumer_closes_the_connection(
    engine: AnthropicLlm, fake: FakeAnthropic
) -> None:
    fake.script(Reply(text=LONG_TEXT, inter_token_ms=20))
    first_delta = asyncio.Event()

    async def consume() -> None:
        async for _ in engine.open_session("call-1").respond(HELLO):
            first_delta.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first_delta.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await fake.wait_disconnect(timeout_s=5)


async def test_a_request_allowing_no_tool_sends_tool_choice_none(
    engine: AnthropicLlm, fake: FakeAnthropic
) -> None:
    fake.script(Reply(text="Let me transfer.", tool=ToolUse("transfer_call", {}, "tu_1")))
    events = await collect(engine, replace(WITH_TOOLS, tool_choice="none"))
    body = fake.requests[0].body
    assert body["tool_choice"] == {"type": "none"}
    assert [tool["name"] for tool in body["tools"]] == ["transfer_call"]
    assert body["system"].endswith(NO_MORE_TOOLS)
    assert not any(isinstance(event, ToolCall) for event in events)
