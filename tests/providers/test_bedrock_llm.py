"""BedrockLlm streams Claude answers from ConverseStream, run against FakeBedrock's wire format."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from urllib.parse import quote

import pytest
from tests.fakes.bedrock import FakeBedrock
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
    ModelStreamError,
    ThrottledError,
)
from aybiza.providers.llm.bedrock import BedrockLlm
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


@pytest.fixture(autouse=True)
def dummy_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    # Never look for real credentials or endpoints on the test machine.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_BEARER_TOKEN_BEDROCK",
        "AWS_ENDPOINT_URL",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def fake() -> AsyncIterator[FakeBedrock]:
    async with FakeBedrock() as server:
        yield server


@pytest.fixture
async def engine(fake: FakeBedrock) -> AsyncIterator[BedrockLlm]:
    bedrock = BedrockLlm(region="us-east-1", endpoint_url=fake.url)
    yield bedrock
    await bedrock.aclose()


async def collect(engine: BedrockLlm, request: LlmRequest = HELLO) -> list[LlmEvent]:
    return [event async for event in engine.open_session("call-1").respond(request)]


async def test_text_streams_as_word_deltas_then_one_answer_end(
    engine: BedrockLlm, fake: FakeBedrock
) -> None:
    fake.script(Reply(text="Hello, how can I help?", input_tokens=30, reported_latency_ms=412))
    events = await collect(engine)
    assert events == [
        TextDelta("Hello,"),
        TextDelta(" how"),
        TextDelta(" can"),
        TextDelta(" I"),
        TextDelta(" help?"),
        AnswerEnd("end_turn", Usage(input_tokens=30, output_tokens=5), latency_ms=412),
    ]


async def test_tool_input_fragments_are_joined_into_one_tool_call(
    engine: BedrockLlm, fake: FakeBedrock
) -> None:
    arguments = {"dept": "sales", "note": "wants a quote", "priority": 2}
    fake.script(Reply(text="Transferring you.", tool=ToolUse("transfer_call", arguments, "tu_1")))
    events = await collect(engine, WITH_TOOLS)
    assert events[:2] == [TextDelta("Transferring"), TextDelta(" you.")]
    assert events[2] == ToolCall(id="tu_1", name="transfer_call", arguments=arguments)
    assert isinstance(events[3], AnswerEnd) and events[3].stop_reason == "tool_use"
    assert len(events) == 4


async def test_a_tool_call_without_text_uses_block_zero(
    engine: BedrockLlm, fake: FakeBedrock
) -> None:
    fake.script(Reply(text="", tool=ToolUse("end_call", {}, "tu_2")))
    events = await collect(engine, WITH_TOOLS)
    assert events[0] == ToolCall(id="tu_2", name="end_call", arguments={})
    assert isinstance(events[1], AnswerEnd) and events[1].stop_reason == "tool_use"


async def test_max_tokens_stop_reason_is_reported(engine: BedrockLlm, fake: FakeBedrock) -> None:
    fake.script(Reply(text="I was cut", stop_reason="max_tokens"))
    end = (await collect(engine))[-1]
    assert isinstance(end, AnswerEnd) and end.stop_reason == "max_tokens"


async def test_request_body_has_system_alternating_messages_config_and_tools(
    engine: BedrockLlm, fake: FakeBedrock
) -> None:
    schema = {"type": "object", "properties": {"dept": {"type": "string"}}, "required": ["dept"]}
    request = LlmRequest(
        system="You are a phone agent.",
        model="claude-3-5-haiku",
        temperature=0.2,
        max_tokens=300,
        language="es-ES",
        tools=(ToolSpec("transfer_call", "Transfer the caller", schema),),
        messages=(
            Message("assistant", "Hola, ¿en qué puedo ayudarle?"),
            Message("user", "Ventas, por favor."),
            Message("assistant", "Le paso.", [ToolCall("t1", "transfer_call", {"dept": "sales"})]),
            Message("user", "¿Sigue ahí?", tool_results=[ToolResult("t1", {"ok": True})]),
        ),
    )
    await collect(engine, request)
    model_id = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
    assert fake.requests[0].path == f"/model/{quote(model_id, safe='')}/converse-stream"
    assert "%3A0" in fake.requests[0].path
    assert fake.requests[0].body == {
        "system": [{"text": "You are a phone agent.\n\nAnswer in Spanish (es-ES)."}],
        "messages": [
            {"role": "user", "content": [{"text": "(The call has connected.)"}]},
            {"role": "assistant", "content": [{"text": "Hola, ¿en qué puedo ayudarle?"}]},
            {"role": "user", "content": [{"text": "Ventas, por favor."}]},
            {
                "role": "assistant",
                "content": [
                    {"text": "Le paso."},
                    {
                        "toolUse": {
                            "toolUseId": "t1",
                            "name": "transfer_call",
                            "input": {"dept": "sales"},
                        }
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "toolResult": {
                            "toolUseId": "t1",
                            "content": [{"json": {"ok": True}}],
                            "status": "success",
                        }
                    },
                    {"text": "¿Sigue ahí?"},
                ],
            },
        ],
        "inferenceConfig": {"maxTokens": 300, "temperature": 0.2},
        "toolConfig": {
            "tools": [
                {
                    "toolSpec": {
                        "name": "transfer_call",
                        "description": "Transfer the caller",
                        "inputSchema": {"json": schema},
                    }
                }
            ]
        },
    }


async def test_english_without_tools_sends_no_language_line_and_no_tool_config(
    engine: BedrockLlm, fake: FakeBedrock
) -> None:
    await collect(engine)
    body = fake.requests[0].body
    assert body["system"] == [{"text": "You are a phone agent."}]
    assert "toolConfig" not in body
    # The engine's default model, as the region's inference profile.
    assert fake.requests[0].model == "us.anthropic.claude-3-7-sonnet-20250219-v1:0"


async def test_a_request_allowing_no_tool_has_no_tool_config_and_writes_tool_blocks_as_text(
    engine: BedrockLlm, fake: FakeBedrock
) -> None:
    # Item 14: Bedrock has no toolChoice "none", and refuses tool blocks without toolConfig.
    fake.script(Reply(text="", tool=ToolUse("transfer_call", {"dept": "sales"}, "tu_9")))
    request = replace(
        WITH_TOOLS,
        tool_choice="none",
        messages=(
            Message("user", "Sales, please."),
            Message("assistant", "", [ToolCall("t1", "transfer_call", {"dept": "sales"})]),
            Message("user", tool_results=[ToolResult("t1", {"ok": False}, is_error=True)]),
        ),
    )
    events = await collect(engine, request)
    body = fake.requests[0].body
    assert "toolConfig" not in body
    assert body["system"][0]["text"] == f"You are a phone agent.\n\n{NO_MORE_TOOLS}"
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": [{"text": '(I called transfer_call with {"dept": "sales"}.)'}],
        },
        {"role": "user", "content": [{"text": '(transfer_call failed: {"ok": false})'}]},
    ]
    # Offered no tool, the model answers in words (the fake, like Bedrock, calls none).
    assert not any(isinstance(event, ToolCall) for event in events)
    assert isinstance(events[-1], AnswerEnd) and events[-1].stop_reason == "end_turn"


async def test_a_base_id_in_a_region_without_profile_is_refused_as_invalid(
    fake: FakeBedrock,
) -> None:
    engine = BedrockLlm(region="ca-central-1", endpoint_url=fake.url)
    with pytest.raises(InvalidRequestError, match="on-demand throughput"):
        await collect(engine)
    await engine.aclose()


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (HttpError(429, "ThrottlingException", "Too many requests"), ThrottledError),
        (HttpError(400, "ValidationException", "bad"), InvalidRequestError),
        (HttpError(403, "AccessDeniedException", "no model access"), InvalidRequestError),
        (HttpError(403, "UnrecognizedClientException", "invalid token"), AuthenticationError),
        (HttpError(404, "ResourceNotFoundException", "no such model"), InvalidRequestError),
        (HttpError(408, "ModelTimeoutException", "slow"), EngineTimeoutError),
        (HttpError(424, "ModelErrorException", "model failed"), ModelStreamError),
        (HttpError(500, "InternalServerException", "oops"), EngineUnavailableError),
        (HttpError(503, "ServiceUnavailableException", "down"), EngineUnavailableError),
    ],
)
async def test_pre_stream_errors_become_typed_errors(
    engine: BedrockLlm, fake: FakeBedrock, error: HttpError, expected: type[EngineError]
) -> None:
    fake.script(error)
    with pytest.raises(expected) as raised:
        await collect(engine)
    assert raised.value.engine == "bedrock"
    assert raised.value.status == error.status
    assert error.message in str(raised.value)


async def test_item5_a_gateway_504_is_a_timeout_like_every_engine_s_504(
    engine: BedrockLlm, fake: FakeBedrock
) -> None:
    fake.script(HttpError(504, "GatewayTimeout", "the endpoint timed out"))
    with pytest.raises(EngineTimeoutError, match="timed out") as raised:
        await collect(engine)
    assert raised.value.status == 504


@pytest.mark.parametrize(
    ("exception_type", "expected"),
    [
        ("throttlingException", ThrottledError),
        ("modelStreamErrorException", ModelStreamError),
        ("internalServerException", EngineUnavailableError),
        ("serviceUnavailableException", EngineUnavailableError),
        ("validationException", InvalidRequestError),
    ],
)
async def test_in_stream_exceptions_become_typed_errors_after_the_deltas_sent(
    engine: BedrockLlm, fake: FakeBedrock, exception_type: str, expected: type[EngineError]
) -> None:
    fake.script(Reply(text="One two three four", fail_after=2, fail_with=exception_type))
    received: list[LlmEvent] = []
    with pytest.raises(expected, match=exception_type):
        async for event in engine.open_session("call-1").respond(HELLO):
            received.append(event)
    assert received == [TextDelta("One"), TextDelta(" two")]


async def test_unreachable_endpoint_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    engine = BedrockLlm(region="us-east-1", endpoint_url=f"http://127.0.0.1:{port}")
    with pytest.raises(EngineUnavailableError):
        await collect(engine)
    await engine.aclose()


async def test_missing_credentials_are_an_authentication_error(
    fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    engine = BedrockLlm(region="us-east-1", endpoint_url=fake.url)
    with pytest.raises(AuthenticationError):
        await collect(engine)
    await engine.aclose()
    assert fake.requests == []


async def test_closing_the_answer_mid_stream_closes_the_connection(
    engine: BedrockLlm, fake: FakeBedrock
) -> None:
    fake.script(Reply(text=LONG_TEXT, inter_token_ms=20))
    answer = engine.open_session("call-1").respond(HELLO)
    assert await anext(answer) == TextDelta("word0")
    await answer.aclose()
    await fake.wait_disconnect(timeout_s=5)


async def test_cancelling_the_consumer_closes_the_connection(
    engine: BedrockLlm, fake: FakeBedrock
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


async def test_endpoint_and_credentials_are_resolved_once(
    engine: BedrockLlm, fake: FakeBedrock
) -> None:
    first, second = await asyncio.gather(engine.prepare(), engine.prepare())
    assert first is second
    assert first.endpoint_url == fake.url
    await collect(engine)
    assert await engine.prepare() is first


async def test_one_connection_serves_answer_after_answer_until_the_engine_closes(
    engine: BedrockLlm, fake: FakeBedrock
) -> None:
    await collect(engine)
    await collect(engine)
    first, second = fake.requests
    assert first.peer == second.peer  # the same kept-alive connection
    await engine.aclose()
    await collect(engine)  # a closed engine opens a new pool
    assert fake.requests[2].peer != first.peer
