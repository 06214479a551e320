"""Claude through the Anthropic Messages API (streamed server-sent events) as an ``LlmEngine``.

One ``AsyncAnthropic`` client serves every call, so its connection pool is shared. The SDK's own
retries are off: the conversation engine decides about retries and failover. The API reports no
latency, so ``AnswerEnd.latency_ms`` is measured here, from sending the request to the last event.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from typing import Any

import anthropic
from anthropic.types import (
    MessageParam,
    RawMessageStreamEvent,
    TextBlockParam,
    ToolParam,
    ToolResultBlockParam,
    ToolUseBlockParam,
)

from aybiza.providers.base import (
    AnswerEnd,
    LlmEvent,
    LlmRequest,
    Message,
    TextDelta,
    ToolCall,
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
    error_type_for_status,
)
from aybiza.providers.llm.bedrock_models import anthropic_model_id
from aybiza.providers.llm.prompting import claude_turns, request_system_prompt
from aybiza.providers.llm.tool_input import parse_tool_input

ENGINE = "anthropic"
# The API version whose stream this adapter reads (PROTOCOLS 6). Pinned rather than left to the
# SDK's default (2.14 sends a newer one, without temperature), so an SDK upgrade cannot change
# what the API sends or accepts.
API_VERSION = "2023-06-01"
CONNECT_TIMEOUT_S = 3.0
# Longest silence allowed between two reads of the stream, including the first token's wait.
READ_TIMEOUT_S = 30.0

# Error types in the body, which also name in-stream ``error`` events (HTTP status 200).
_BY_ERROR_TYPE: dict[str, type[EngineError]] = {
    "rate_limit_error": ThrottledError,
    "overloaded_error": ThrottledError,
    "api_error": EngineUnavailableError,
    "timeout_error": EngineTimeoutError,
    "authentication_error": AuthenticationError,
    "permission_error": InvalidRequestError,
    "not_found_error": InvalidRequestError,
    "invalid_request_error": InvalidRequestError,
    "request_too_large": InvalidRequestError,
}
# Anthropic's own status: 529 is "overloaded_error", a capacity limit like a 429.
_STATUSES: dict[int, type[EngineError]] = {529: ThrottledError}
# Request headers as the SDK takes them: ``omit`` removes a header the SDK would send.
_Headers = Mapping[str, str | anthropic.Omit]
# Anthropic's stop reasons that Bedrock spells differently.
_STOP_REASONS = {"refusal": "content_filtered"}


class AnthropicLlm:
    """An ``LlmEngine`` on the Anthropic API; ``base_url`` is ``AYBIZA_ANTHROPIC_BASE_URL``."""

    name = "anthropic"
    is_scripted = False

    def __init__(self, *, api_key: str, base_url: str | None = None) -> None:
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            timeout=anthropic.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
            default_headers={"anthropic-version": API_VERSION},
        )
        # The key goes in ``x-api-key``, the header that API version documents; SDK 2.14 would
        # otherwise send it as a bearer token.
        self._auth_headers: _Headers = {"x-api-key": api_key, "Authorization": anthropic.omit}

    def open_session(self, call_id: str) -> AnthropicSession:
        """A session for one call; it holds no state of its own between answers."""
        return AnthropicSession(self._client, self._auth_headers, call_id)

    async def aclose(self) -> None:
        """Close the client's connections."""
        await self._client.close()


class AnthropicSession:
    """Answers for one call; each ``respond`` is one streamed ``POST /v1/messages``."""

    def __init__(
        self, client: anthropic.AsyncAnthropic, auth_headers: _Headers, call_id: str
    ) -> None:
        self._client = client
        self._auth_headers = auth_headers
        self.call_id = call_id

    async def respond(self, request: LlmRequest) -> AsyncGenerator[LlmEvent, None]:
        """Stream one answer. Closing or cancelling the consumer closes the HTTP stream."""
        system = request_system_prompt(request)
        tools: list[ToolParam] = [
            {"name": tool.name, "description": tool.description, "input_schema": tool.input_schema}
            for tool in request.tools
        ]
        started = time.monotonic()
        try:
            stream = await self._client.messages.create(
                model=anthropic_model_id(request.model),
                max_tokens=request.max_tokens,
                messages=[_message(turn) for turn in claude_turns(request.messages)],
                system=system if system.strip() else anthropic.omit,
                tools=tools or anthropic.omit,
                tool_choice={"type": "none"}
                if tools and request.tool_choice == "none"
                else anthropic.omit,
                stream=True,
                extra_body={"temperature": request.temperature},
                extra_headers=self._auth_headers,
            )
        except anthropic.AnthropicError as exc:
            raise anthropic_error(exc) from exc
        answer = _Answer()
        try:
            async for event in stream:
                for item in answer.add(event):
                    yield item
        except anthropic.AnthropicError as exc:
            raise anthropic_error(exc) from exc
        finally:
            # Drops the connection at once: a barge-in must not leave the model talking.
            await stream.close()
        yield answer.end(started)


def _message(message: Message) -> MessageParam:
    # Tool results answer the previous assistant turn, so they come before the caller's words.
    content: list[TextBlockParam | ToolUseBlockParam | ToolResultBlockParam] = [
        {
            "type": "tool_result",
            "tool_use_id": result.tool_call_id,
            "content": json.dumps(result.content),
            "is_error": result.is_error,
        }
        for result in message.tool_results
    ]
    if message.text.strip():
        content.append({"type": "text", "text": message.text})
    content.extend(
        {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
        for call in message.tool_calls
    )
    if message.role == "user":
        return {"role": "user", "content": content}
    return {"role": "assistant", "content": content}


def anthropic_error(exc: anthropic.AnthropicError) -> EngineError:
    """The typed error for an SDK failure, before the stream or inside it."""
    if isinstance(exc, anthropic.APITimeoutError):
        return EngineTimeoutError(ENGINE, "no answer from the Anthropic API in time")
    if isinstance(exc, anthropic.APIConnectionError):
        return EngineUnavailableError(ENGINE, f"could not reach the Anthropic API: {exc}")
    if not isinstance(exc, anthropic.APIStatusError):
        return EngineUnavailableError(ENGINE, f"{type(exc).__name__}: {exc}")
    body = exc.body
    error: dict[str, Any] = {}
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
    error_type = str(error.get("type", ""))
    message = f"{error_type or exc.status_code}: {error.get('message') or exc.message}"
    status = exc.status_code
    kind = _BY_ERROR_TYPE.get(error_type)
    if kind is None:
        # Below 400, the status is the stream's own: the failure came inside the answer.
        kind = ModelStreamError if status < 400 else error_type_for_status(status, _STATUSES)
    # A failure announced inside a 200 stream broke the answer midway.
    if status == 200 and kind is InvalidRequestError:
        kind = ModelStreamError
    return kind(ENGINE, message, status=status)


@dataclass
class _ToolBlock:
    tool_use_id: str
    name: str
    fragments: list[str] = field(default_factory=list)


@dataclass
class _Answer:
    """Assembles Messages API stream events into ``LlmEvent``s."""

    tools: dict[int, _ToolBlock] = field(default_factory=dict)
    stop_reason: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0

    def add(self, event: RawMessageStreamEvent) -> list[LlmEvent]:
        if event.type == "content_block_delta":
            if event.delta.type == "text_delta" and event.delta.text:
                return [TextDelta(event.delta.text)]
            tool = self.tools.get(event.index)
            if tool is not None and event.delta.type == "input_json_delta":
                tool.fragments.append(event.delta.partial_json)
        elif event.type == "content_block_start":
            block = event.content_block
            if block.type == "tool_use":
                self.tools[event.index] = _ToolBlock(block.id, block.name)
        elif event.type == "content_block_stop":
            tool = self.tools.pop(event.index, None)
            if tool is not None:
                arguments = parse_tool_input(ENGINE, tool.name, "".join(tool.fragments))
                return [ToolCall(id=tool.tool_use_id, name=tool.name, arguments=arguments)]
        elif event.type == "message_start":
            self.input_tokens = event.message.usage.input_tokens or 0
            self.output_tokens = event.message.usage.output_tokens or 0
        elif event.type == "message_delta":
            reason = event.delta.stop_reason or "end_turn"
            self.stop_reason = _STOP_REASONS.get(reason, reason)
            # Cumulative counts: the delta's figures replace the start's.
            self.output_tokens = event.usage.output_tokens
            if event.usage.input_tokens is not None:
                self.input_tokens = event.usage.input_tokens
        return []

    def end(self, started: float) -> AnswerEnd:
        if self.stop_reason is None:
            raise EngineUnavailableError(ENGINE, "the stream ended before message_delta")
        usage = Usage(self.input_tokens, self.output_tokens)
        return AnswerEnd(self.stop_reason, usage, round((time.monotonic() - started) * 1000))
