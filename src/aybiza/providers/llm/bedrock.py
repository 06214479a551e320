"""Claude on Amazon Bedrock (``ConverseStream``) as an ``LlmEngine``.

One aiobotocore client serves every call in the process: it holds the connection pool, so
answers after the first skip the TCP and TLS handshakes. botocore's retries are off because the
conversation engine decides whether to retry, wait or fail over to another model.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from aybiza.providers.base import (
    AnswerEnd,
    LlmEvent,
    LlmRequest,
    Message,
    TextDelta,
    ToolCall,
    Usage,
)
from aybiza.providers.errors import EngineUnavailableError
from aybiza.providers.llm.bedrock_errors import BEDROCK_FAILURES, ENGINE, bedrock_error
from aybiza.providers.llm.bedrock_models import bedrock_model_id
from aybiza.providers.llm.prompting import (
    claude_turns,
    request_system_prompt,
    tool_blocks_as_text,
)
from aybiza.providers.llm.tool_input import parse_tool_input

CONNECT_TIMEOUT_S = 3.0
# Longest silence allowed between two reads of the stream, including the wait for the first
# token of a long prompt.
READ_TIMEOUT_S = 30.0
# Every answer being streamed holds one pooled connection; a process serves hundreds of calls.
MAX_POOL_CONNECTIONS = 256


class BedrockLlm:
    """An ``LlmEngine`` on Bedrock ``ConverseStream``, shared by every call in the process.

    ``region`` picks the endpoint and the inference-profile prefix of Claude models;
    ``endpoint_url`` (``AYBIZA_BEDROCK_ENDPOINT_URL``) overrides the endpoint, for VPC
    endpoints and fakes. Credentials come from the normal AWS chain, or a Bedrock bearer token
    in ``AWS_BEARER_TOKEN_BEDROCK``.
    """

    name = "bedrock"
    is_scripted = False

    def __init__(self, *, region: str, endpoint_url: str | None = None) -> None:
        self._region = region
        self._endpoint_url = endpoint_url
        self._lock = asyncio.Lock()
        self._exit_stack: AsyncExitStack | None = None
        self._client: Any = None

    @property
    def region(self) -> str:
        """The AWS region the engine calls."""
        return self._region

    def open_session(self, call_id: str) -> BedrockSession:
        """A session for one call; it holds no state of its own between answers."""
        return BedrockSession(self, call_id)

    async def runtime_client(self) -> Any:
        """The process's ``bedrock-runtime`` client, created on first use."""
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                config = AioConfig(
                    # One attempt in all (botocore's ``max_attempts`` counts retries only).
                    retries={"mode": "standard", "total_max_attempts": 1},
                    connect_timeout=CONNECT_TIMEOUT_S,
                    read_timeout=READ_TIMEOUT_S,
                    max_pool_connections=MAX_POOL_CONNECTIONS,
                )
                stack = AsyncExitStack()
                self._client = await stack.enter_async_context(
                    get_session().create_client(
                        "bedrock-runtime",
                        region_name=self._region,
                        endpoint_url=self._endpoint_url,
                        config=config,
                    )
                )
                self._exit_stack = stack
        return self._client

    async def aclose(self) -> None:
        """Close the client and its connections. Idempotent; a later answer opens a new one."""
        async with self._lock:
            stack, self._exit_stack, self._client = self._exit_stack, None, None
            if stack is not None:
                await stack.aclose()


class BedrockSession:
    """Answers for one call; each ``respond`` is one ``ConverseStream`` request."""

    def __init__(self, engine: BedrockLlm, call_id: str) -> None:
        self._engine = engine
        self.call_id = call_id

    async def respond(self, request: LlmRequest) -> AsyncGenerator[LlmEvent, None]:
        """Stream one answer. Closing or cancelling the consumer closes the HTTP stream."""
        arguments = converse_stream_arguments(request, self._engine.region)
        started = time.monotonic()
        try:
            client = await self._engine.runtime_client()
            response = await client.converse_stream(**arguments)
        except BEDROCK_FAILURES as exc:
            raise bedrock_error(exc) from exc
        stream = response["stream"]
        answer = _Answer()
        try:
            events: AsyncIterator[dict[str, Any]] = aiter(stream)
            while (event := await _next_event(events)) is not None:
                for item in answer.add(event):
                    yield item
        finally:
            # Drops the connection at once: a barge-in must not leave the model talking.
            stream.close()
        yield answer.end(started)


def converse_stream_arguments(request: LlmRequest, region: str) -> dict[str, Any]:
    """The keyword arguments of ``converse_stream`` for ``request``.

    ``toolChoice`` has no "none": a request that allows no tool call leaves ``toolConfig`` out,
    so the model cannot call one, and writes the turn's tool blocks as text, since Bedrock
    refuses tool blocks without ``toolConfig``."""
    tools_closed = request.tool_choice == "none"
    turns = claude_turns(request.messages)
    if tools_closed:
        turns = claude_turns(tool_blocks_as_text(turns))
    arguments: dict[str, Any] = {
        "modelId": bedrock_model_id(request.model, region),
        "messages": [{"role": turn.role, "content": _content(turn)} for turn in turns],
        "inferenceConfig": {"maxTokens": request.max_tokens, "temperature": request.temperature},
    }
    system = request_system_prompt(request)
    if system.strip():
        arguments["system"] = [{"text": system}]
    if request.tools and not tools_closed:
        arguments["toolConfig"] = {
            "tools": [
                {
                    "toolSpec": {
                        "name": tool.name,
                        "description": tool.description,
                        "inputSchema": {"json": tool.input_schema},
                    }
                }
                for tool in request.tools
            ]
        }
    return arguments


def _content(message: Message) -> list[dict[str, Any]]:
    # Tool results answer the previous assistant turn, so they come before the caller's words.
    blocks: list[dict[str, Any]] = [
        {
            "toolResult": {
                "toolUseId": result.tool_call_id,
                "content": [{"json": result.content}],
                "status": "error" if result.is_error else "success",
            }
        }
        for result in message.tool_results
    ]
    if message.text.strip():
        blocks.append({"text": message.text})
    blocks.extend(
        {"toolUse": {"toolUseId": call.id, "name": call.name, "input": call.arguments}}
        for call in message.tool_calls
    )
    return blocks


async def _next_event(events: AsyncIterator[dict[str, Any]]) -> dict[str, Any] | None:
    try:
        return await anext(events)
    except StopAsyncIteration:
        return None
    except BEDROCK_FAILURES as exc:
        raise bedrock_error(exc) from exc


@dataclass
class _ToolBlock:
    tool_use_id: str
    name: str
    fragments: list[str] = field(default_factory=list)


@dataclass
class _Answer:
    """Assembles ConverseStream events (botocore's dicts) into ``LlmEvent``s."""

    tools: dict[int, _ToolBlock] = field(default_factory=dict)
    stop_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    latency_ms: int | None = None

    def add(self, event: dict[str, Any]) -> list[LlmEvent]:
        if "contentBlockDelta" in event:
            body = event["contentBlockDelta"]
            delta = body.get("delta", {})
            if delta.get("text"):
                return [TextDelta(delta["text"])]
            tool = self.tools.get(body.get("contentBlockIndex", -1))
            if tool is not None and "toolUse" in delta:
                tool.fragments.append(delta["toolUse"].get("input", ""))
        elif "contentBlockStart" in event:
            body = event["contentBlockStart"]
            start = body.get("start", {}).get("toolUse")
            if start is not None:
                self.tools[body["contentBlockIndex"]] = _ToolBlock(
                    start["toolUseId"], start["name"]
                )
        elif "contentBlockStop" in event:
            tool = self.tools.pop(event["contentBlockStop"].get("contentBlockIndex", -1), None)
            if tool is not None:
                arguments = parse_tool_input(ENGINE, tool.name, "".join(tool.fragments))
                return [ToolCall(id=tool.tool_use_id, name=tool.name, arguments=arguments)]
        elif "messageStop" in event:
            self.stop_reason = event["messageStop"].get("stopReason", "end_turn")
        elif "metadata" in event:
            metadata = event["metadata"]
            usage = metadata.get("usage", {})
            self.usage = Usage(usage.get("inputTokens", 0), usage.get("outputTokens", 0))
            self.latency_ms = metadata.get("metrics", {}).get("latencyMs")
        return []

    def end(self, started: float) -> AnswerEnd:
        if self.stop_reason is None:
            # The body ended cleanly but without messageStop: the connection was cut short.
            raise EngineUnavailableError(ENGINE, "the stream ended before messageStop")
        latency_ms = self.latency_ms
        if latency_ms is None:
            latency_ms = round((time.monotonic() - started) * 1000)
        return AnswerEnd(self.stop_reason, self.usage, latency_ms)
