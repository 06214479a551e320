"""The fake model servers speak the real wire formats: the vendors' own SDKs read them.

boto3 and aiobotocore decode FakeBedrock's binary event stream (so its frames, headers and both
CRCs are right) into exactly the events real Bedrock yields; the anthropic and openai SDKs
assemble the other fakes' streams into text and tool calls.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import boto3
import openai
import pytest
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError
from tests.fakes.anthropic import API_VERSION, DEFAULT_API_KEY, FakeAnthropic
from tests.fakes.bedrock import FakeBedrock
from tests.fakes.llm_server import HttpError, Reply, ToolUse
from tests.fakes.openai import FakeOpenAI

MODEL_ID = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
MESSAGES = [{"role": "user", "content": [{"text": "I need sales."}]}]
# A model calls only tools it was given: the requests whose reply calls one offer it.
TRANSFER_SCHEMA: dict[str, object] = {"type": "object", "properties": {"dept": {"type": "string"}}}
TOOL_CONFIG = {
    "tools": [
        {
            "toolSpec": {
                "name": "transfer_call",
                "description": "Transfer the caller",
                "inputSchema": {"json": TRANSFER_SCHEMA},
            }
        }
    ]
}
TOOL_REPLY = Reply(
    text="Transferring you now.",
    tool=ToolUse("transfer_call", {"dept": "sales", "reason": "pricing question"}, id="tool_1"),
    reported_latency_ms=321,
)
EXPECTED_EVENTS: list[dict[str, Any]] = [
    {"messageStart": {"role": "assistant"}},
    {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "Transferring"}}},
    {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": " you"}}},
    {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": " now."}}},
    {"contentBlockStop": {"contentBlockIndex": 0}},
    {
        "contentBlockStart": {
            "contentBlockIndex": 1,
            "start": {"toolUse": {"toolUseId": "tool_1", "name": "transfer_call"}},
        }
    },
    *(
        {"contentBlockDelta": {"contentBlockIndex": 1, "delta": {"toolUse": {"input": piece}}}}
        for piece in ['{"dept": "sales', '", "reason": "p', 'ricing question"}']
    ),
    {"contentBlockStop": {"contentBlockIndex": 1}},
    {"messageStop": {"stopReason": "tool_use"}},
    {
        "metadata": {
            "usage": {"inputTokens": 12, "outputTokens": 6, "totalTokens": 18},
            "metrics": {"latencyMs": 321},
        }
    },
]


@pytest.fixture(autouse=True)
def dummy_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_BEARER_TOKEN_BEDROCK",
        "AWS_ENDPOINT_URL",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def bedrock() -> AsyncIterator[FakeBedrock]:
    async with FakeBedrock() as fake:
        yield fake


def boto3_client(url: str) -> Any:
    # Retries off, so a scripted error reaches the test instead of being retried away.
    config = Config(retries={"mode": "standard", "total_max_attempts": 1})
    return boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=url, config=config)


async def test_boto3_reads_bedrock_events_exactly_as_real_bedrock_sends_them(
    bedrock: FakeBedrock,
) -> None:
    bedrock.script(TOOL_REPLY)

    def read() -> list[dict[str, Any]]:
        response = boto3_client(bedrock.url).converse_stream(
            modelId=MODEL_ID, messages=MESSAGES, toolConfig=TOOL_CONFIG
        )
        return list(response["stream"])

    assert await asyncio.to_thread(read) == EXPECTED_EVENTS
    assert bedrock.requests[0].path == (
        "/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse-stream"
    )
    assert bedrock.requests[0].model == MODEL_ID


async def test_aiobotocore_reads_the_same_events(bedrock: FakeBedrock) -> None:
    bedrock.script(TOOL_REPLY)
    config = AioConfig(retries={"mode": "standard", "total_max_attempts": 1})
    async with get_session().create_client(
        "bedrock-runtime", region_name="us-east-1", endpoint_url=bedrock.url, config=config
    ) as client:
        response = await client.converse_stream(
            modelId=MODEL_ID, messages=MESSAGES, toolConfig=TOOL_CONFIG
        )
        events = [event async for event in response["stream"]]
    assert events == EXPECTED_EVENTS


async def test_bedrock_fake_refuses_a_tool_use_left_without_its_result_as_bedrock_does(
    bedrock: FakeBedrock,
) -> None:
    unanswered = [
        *MESSAGES,
        {
            "role": "assistant",
            "content": [{"toolUse": {"toolUseId": "t1", "name": "transfer_call", "input": {}}}],
        },
        {"role": "user", "content": [{"text": "Hello? Are you there?"}]},
    ]

    def send() -> ClientError:
        with pytest.raises(ClientError) as raised:
            boto3_client(bedrock.url).converse_stream(
                modelId=MODEL_ID, messages=unanswered, toolConfig=TOOL_CONFIG
            )
        return raised.value

    error = await asyncio.to_thread(send)
    assert error.response["Error"]["Code"] == "ValidationException"
    assert error.response["Error"]["Message"] == (
        "Expected toolResult blocks at messages.2.content for the following Ids: t1"
    )


async def test_in_stream_throttling_raises_botocore_event_stream_error(
    bedrock: FakeBedrock,
) -> None:
    bedrock.script(Reply(fail_after=2, fail_with="throttlingException"))

    def read() -> tuple[list[dict[str, Any]], EventStreamError]:
        response = boto3_client(bedrock.url).converse_stream(modelId=MODEL_ID, messages=MESSAGES)
        events: list[dict[str, Any]] = []
        with pytest.raises(EventStreamError) as raised:
            events.extend(response["stream"])
        return events, raised.value

    events, error = await asyncio.to_thread(read)
    assert [next(iter(event)) for event in events] == [
        "messageStart",
        "contentBlockDelta",
        "contentBlockDelta",
    ]
    assert error.response["Error"]["Code"] == "throttlingException"


async def test_pre_stream_429_raises_throttling_exception(bedrock: FakeBedrock) -> None:
    bedrock.script(HttpError(429, "ThrottlingException", "Too many requests"))

    def call() -> None:
        client = boto3_client(bedrock.url)
        with pytest.raises(client.exceptions.ThrottlingException) as raised:
            client.converse_stream(modelId=MODEL_ID, messages=MESSAGES)
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
        assert raised.value.response["Error"]["Message"] == "Too many requests"

    await asyncio.to_thread(call)


async def test_bare_base_model_id_is_refused_as_real_bedrock_refuses_it(
    bedrock: FakeBedrock,
) -> None:
    def call() -> str:
        client = boto3_client(bedrock.url)
        with pytest.raises(client.exceptions.ValidationException) as raised:
            client.converse_stream(
                modelId="anthropic.claude-3-7-sonnet-20250219-v1:0", messages=MESSAGES
            )
        return str(raised.value)

    assert "on-demand throughput isn't supported" in await asyncio.to_thread(call)


async def test_anthropic_sdk_assembles_the_fake_stream_into_text_and_tool_use() -> None:
    async with FakeAnthropic() as fake:
        fake.script(TOOL_REPLY)
        client = anthropic.AsyncAnthropic(
            api_key=DEFAULT_API_KEY,
            base_url=fake.url,
            max_retries=0,
            default_headers={"anthropic-version": API_VERSION},
        )
        async with client.messages.stream(
            model="claude-3-7-sonnet-20250219",
            max_tokens=100,
            messages=[{"role": "user", "content": "I need sales."}],
            tools=[
                {
                    "name": "transfer_call",
                    "description": "Transfer the caller",
                    "input_schema": TRANSFER_SCHEMA,
                }
            ],
        ) as stream:
            message = await stream.get_final_message()
        await client.close()
    text, tool = message.content
    assert text.type == "text" and text.text == "Transferring you now."
    assert tool.type == "tool_use" and tool.name == "transfer_call"
    assert tool.input == {"dept": "sales", "reason": "pricing question"}
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (12, 6)


async def test_anthropic_sdk_raises_the_fake_mid_stream_overloaded_error() -> None:
    async with FakeAnthropic() as fake:
        fake.script(Reply(fail_after=1, fail_with="overloaded_error"))
        client = anthropic.AsyncAnthropic(
            api_key=DEFAULT_API_KEY,
            base_url=fake.url,
            max_retries=0,
            default_headers={"anthropic-version": API_VERSION},
        )
        stream = await client.messages.create(
            model="claude-3-7-sonnet-20250219",
            max_tokens=100,
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
        )
        with pytest.raises(anthropic.APIStatusError) as raised:
            async for _ in stream:
                pass
        await client.close()
    assert isinstance(raised.value.body, dict)
    assert raised.value.body["error"]["type"] == "overloaded_error"


async def test_openai_sdk_assembles_the_fake_stream_into_text_and_tool_calls() -> None:
    async with FakeOpenAI(api_key="sk-local") as fake:
        fake.script(TOOL_REPLY)
        client = openai.AsyncOpenAI(api_key="sk-local", base_url=f"{fake.url}/v1", max_retries=0)
        async with client.chat.completions.stream(
            model="llama3.1:8b",
            messages=[{"role": "user", "content": "I need sales."}],
            tools=[
                {
                    "type": "function",
                    "function": {
                        "name": "transfer_call",
                        "description": "Transfer the caller",
                        "parameters": TRANSFER_SCHEMA,
                    },
                }
            ],
            stream_options={"include_usage": True},
        ) as stream:
            completion = await stream.get_final_completion()
        await client.close()
    choice = completion.choices[0]
    assert choice.message.content == "Transferring you now."
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.function.name == "transfer_call"
    assert call.function.arguments == '{"dept": "sales", "reason": "pricing question"}'
    assert completion.usage is not None and completion.usage.completion_tokens == 6


@pytest.mark.parametrize(
    ("script", "path", "body"),
    [
        (
            "bedrock.py",
            "/model/us.anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream",
            {"messages": MESSAGES},
        ),
        (
            "anthropic.py",
            "/v1/messages",
            {"model": "m", "max_tokens": 9, "messages": [], "stream": True},
        ),
        (
            "openai.py",
            "/v1/chat/completions",
            {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True},
        ),
    ],
)
async def test_each_fake_runs_as_its_own_process(
    script: str, path: str, body: dict[str, Any]
) -> None:
    headers = {
        "authorization": "AWS4-HMAC-SHA256 Credential=AKIDTEST/...",
        "x-api-key": DEFAULT_API_KEY,
        "anthropic-version": API_VERSION,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__).with_name(script)),
        "--reply",
        "Served from its own process.",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        url = (await asyncio.wait_for(process.stdout.readline(), 20)).decode().strip()
        async with (
            aiohttp.ClientSession() as session,
            session.post(url + path, json=body, headers=headers) as response,
        ):
            payload = await response.read()
        assert response.status == 200
        assert b"Served" in payload and b" process." in payload
    finally:
        process.terminate()
        await process.wait()
