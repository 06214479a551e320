"""OpenAICompatibleLlm streams chat completions, run against FakeOpenAI's SSE chunks."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from tests.fakes.llm_server import HttpError, Reply, ToolUse
from tests.fakes.openai import FakeOpenAI

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
    EngineUnavailableError,
    InvalidRequestError,
    ModelStreamError,
    ThrottledError,
)
from aybiza.providers.llm.openai_compat import OpenAICompatibleLlm
from aybiza.providers.llm.prompting import NO_MORE_TOOLS

API_KEY = "sk-local"
HELLO = LlmRequest(
    system="You are a phone agent.", model="llama3.1:8b", messages=(Message("user", "Hello?"),)
)
# A model calls only tools it was given: requests whose reply calls one offer it.
TRANSFER = ToolSpec(
    "transfer_call",
    "Transfer the caller",
    {"type": "object", "properties": {"dept": {"type": "string"}}},
)
WITH_TOOLS = replace(HELLO, tools=(TRANSFER,))
LONG_TEXT = " ".join(f"word{i}" for i in range(60))


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(api_key=API_KEY) as server:
        yield server


@pytest.fixture
async def engine(fake: FakeOpenAI) -> AsyncIterator[OpenAICompatibleLlm]:
    llm = OpenAICompatibleLlm(base_url=f"{fake.url}/v1", api_key=API_KEY)
    yield llm
    await llm.aclose()


async def collect(engine: OpenAICompatibleLlm, request: LlmRequest = HELLO) -> list[LlmEvent]:
    return [event async for event in engine.open_session("call-1").respond(request)]


async def test_text_streams_as_deltas_then_one_answer_end_with_usage(
    engine: OpenAICompatibleLlm, fake: FakeOpenAI
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


async def test_argument_fragments_are_joined_into_one_tool_call(
    engine: OpenAICompatibleLlm, fake: FakeOpenAI
) -> None:
    arguments = {"dept": "sales", "note": "wants a quote", "priority": 2}
    fake.script(Reply(text="Transferring you.", tool=ToolUse("transfer_call", arguments, "call_1")))
    events = await collect(engine, WITH_TOOLS)
    assert events[:3] == [
        TextDelta("Transferring"),
        TextDelta(" you."),
        ToolCall(id="call_1", name="transfer_call", arguments=arguments),
    ]
    assert isinstance(events[3], AnswerEnd) and events[3].stop_reason == "tool_use"
    assert len(events) == 4


async def test_length_finish_reason_is_max_tokens(
    engine: OpenAICompatibleLlm, fake: FakeOpenAI
) -> None:
    fake.script(Reply(text="I was cut", stop_reason="max_tokens"))
    end = (await collect(engine))[-1]
    assert isinstance(end, AnswerEnd) and end.stop_reason == "max_tokens"


async def test_request_has_system_tool_messages_stream_options_and_function_tools(
    engine: OpenAICompatibleLlm, fake: FakeOpenAI
) -> None:
    schema = {"type": "object", "properties": {"dept": {"type": "string"}}, "required": ["dept"]}
    request = LlmRequest(
        system="You are a phone agent.",
        model="llama3.1:8b",
        temperature=0.2,
        max_tokens=300,
        language="de-DE",
        tools=(ToolSpec("transfer_call", "Transfer the caller", schema),),
        messages=(
            Message("assistant", "Guten Tag!"),
            Message("user", "Vertrieb, bitte."),
            Message("assistant", "", [ToolCall("c1", "transfer_call", {"dept": "sales"})]),
            Message("user", "Hallo?", tool_results=[ToolResult("c1", {"ok": True})]),
        ),
    )
    await collect(engine, request)
    recorded = fake.requests[0]
    assert recorded.path == "/v1/chat/completions"
    assert recorded.headers["authorization"] == f"Bearer {API_KEY}"
    assert recorded.body == {
        "model": "llama3.1:8b",
        "temperature": 0.2,
        "max_tokens": 300,
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [
            {"role": "system", "content": "You are a phone agent.\n\nAnswer in German (de-DE)."},
            {"role": "assistant", "content": "Guten Tag!"},
            {"role": "user", "content": "Vertrieb, bitte."},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "transfer_call", "arguments": '{"dept": "sales"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": '{"ok": true}'},
            {"role": "user", "content": "Hallo?"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "transfer_call",
                    "description": "Transfer the caller",
                    "parameters": schema,
                },
            }
        ],
    }


async def test_english_without_tools_sends_no_language_line_and_no_tools(
    engine: OpenAICompatibleLlm, fake: FakeOpenAI
) -> None:
    await collect(engine)
    body = fake.requests[0].body
    assert body["messages"][0] == {"role": "system", "content": "You are a phone agent."}
    assert "tools" not in body


async def test_a_server_without_key_gets_a_placeholder(fake: FakeOpenAI) -> None:
    fake.api_key = None
    engine = OpenAICompatibleLlm(base_url=f"{fake.url}/v1")
    await collect(engine)
    await engine.aclose()
    assert fake.requests[0].headers["authorization"] == "Bearer unused"


async def test_an_empty_model_is_refused_before_any_request(
    engine: OpenAICompatibleLlm, fake: FakeOpenAI
) -> None:
    with pytest.raises(InvalidRequestError, match="model"):
        await collect(engine, LlmRequest(system="", messages=HELLO.messages))
    assert fake.requests == []


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (HttpError(429, "rate_limit_exceeded", "Rate limit reached"), ThrottledError),
        (HttpError(500, "server_error", "The server had an error"), EngineUnavailableError),
        (HttpError(503, "server_error", "Overloaded"), EngineUnavailableError),
        (HttpError(400, "invalid_request_error", "bad"), InvalidRequestError),
        (HttpError(404, "model_not_found", "no such model"), InvalidRequestError),
    ],
)
async def test_pre_stream_errors_become_typed_errors(
    engine: OpenAICompatibleLlm, fake: FakeOpenAI, error: HttpError, expected: type[EngineError]
) -> None:
    fake.script(error)
    with pytest.raises(expected) as raised:
        await collect(engine)
    assert raised.value.engine == "openai"
    assert raised.value.status == error.status
    assert error.message in str(raised.value)


async def test_a_wrong_api_key_is_an_authentication_error(fake: FakeOpenAI) -> None:
    engine = OpenAICompatibleLlm(base_url=f"{fake.url}/v1", api_key="sk-wrong")
    with pytest.raises(AuthenticationError):
        await collect(engine)
    await engine.aclose()


async def test_an_error_inside_the_stream_is_a_model_stream_error(
    engine: OpenAICompatibleLlm, fake: FakeOpenAI
) -> None:
    fake.script(Reply(text="One two three four", fail_after=2))
    received: list[LlmEvent] = []
    with pytest.raises(ModelStreamError):
        async for event in engine.open_session("call-1").respond(HELLO):
            received.append(event)
    assert received == [TextDelta("One"), TextDelta(" two")]


async def test_unreachable_server_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    engine = OpenAICompatibleLlm(base_url=f"http://127.0.0.1:{port}/v1")
    with pytest.raises(EngineUnavailableError):
        await collect(engine)
    await engine.aclose()


async def test_closing_the_answer_mid_stream_closes_the_connection(
    engine: OpenAICompatibleLlm, fake: FakeOpenAI
) -> None:
    fake.script(Reply(text=LONG_TEXT, inter_token_ms=20))
    answer = engine.open_session("call-1").respond(HELLO)
    assert await anext(answer) == TextDelta("word0")
    await answer.aclose()
    await fake.wait_disconnect(timeout_s=5)


async def test_cancelling_the_consumer_closes_the_connection(
    engine: OpenAICompatibleLlm, fake: FakeOpenAI
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
    engine: OpenAICompatibleLlm, fake: FakeOpenAI
) -> None:
    fake.script(Reply(text="Let me transfer.", tool=ToolUse("transfer_call", {}, "call_1")))
    events = await collect(engine, replace(WITH_TOOLS, tool_choice="none"))
    body = fake.requests[0].body
    assert body["tool_choice"] == "none"
    assert body["messages"][0]["content"].endswith(NO_MORE_TOOLS)
    assert not any(isinstance(event, ToolCall) for event in events)
