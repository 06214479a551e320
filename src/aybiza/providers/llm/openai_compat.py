"""Any OpenAI-compatible chat server (Ollama, vLLM, llama.cpp, OpenAI) as an ``LlmEngine``.

Streams ``/v1/chat/completions`` through the ``openai`` SDK, one client per engine. The SDK's
retries are off: the conversation engine decides about retries and failover. Tool calls are
assembled from their ``function.arguments`` fragments and emitted when the choice finishes.
``AnswerEnd.latency_ms`` is measured here, from sending the request to the last chunk.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

import openai
from openai.resources.chat.completions import AsyncCompletions
from openai.types.chat import (
    ChatCompletionChunk,
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageFunctionToolCallParam,
    ChatCompletionMessageParam,
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
)
from aybiza.providers.llm.prompting import system_prompt
from aybiza.providers.llm.tool_input import parse_tool_input

ENGINE = "openai"
CONNECT_TIMEOUT_S = 3.0
# Self-hosted models on modest hardware can take long to start answering a long prompt.
READ_TIMEOUT_S = 60.0
# finish_reason -> Bedrock's stop reasons, the names ``AnswerEnd`` uses.
STOP_REASONS = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
    "content_filter": "content_filtered",
}


class OpenAICompatibleLlm:
    """An ``LlmEngine`` on an OpenAI-compatible server at ``base_url`` (``.../v1``).

    ``api_key`` may be None for servers that need none (Ollama, llama.cpp); the SDK insists on
    some value, so a placeholder is sent. The agent's ``model`` must name a model the server
    serves (``llama3.1:8b``).
    """

    name = "openai"

    def __init__(self, *, base_url: str, api_key: str | None = None) -> None:
        self._client = openai.AsyncOpenAI(
            base_url=base_url,
            api_key=api_key or "unused",
            max_retries=0,
            timeout=openai.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
        )

        # The SDK imports its resource modules on first use; do it here, not in a call.
        self._completions = self._client.chat.completions

    def open_session(self, call_id: str) -> OpenAICompatibleSession:
        """A session for one call; it holds no state of its own between answers."""
        return OpenAICompatibleSession(self._completions, call_id)

    async def aclose(self) -> None:
        """Close the client's connections."""
        await self._client.close()


class OpenAICompatibleSession:
    """Answers for one call; each ``respond`` is one streamed chat completion."""

    def __init__(self, completions: AsyncCompletions, call_id: str) -> None:
        self._completions = completions
        self.call_id = call_id

    async def respond(self, request: LlmRequest) -> AsyncGenerator[LlmEvent, None]:
        """Stream one answer. Closing or cancelling the consumer closes the HTTP stream."""
        if not request.model.strip():
            raise InvalidRequestError(
                ENGINE,
                "the agent's model is empty: name a model the server serves (e.g. llama3.1:8b)",
            )
        tools: list[ChatCompletionFunctionToolParam] = [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.input_schema,
                },
            }
            for tool in request.tools
        ]
        started = time.monotonic()
        try:
            stream = await self._completions.create(
                model=request.model,
                messages=chat_messages(request),
                temperature=request.temperature,
                max_tokens=request.max_tokens,
                tools=tools or openai.omit,
                stream=True,
                stream_options={"include_usage": True},
            )
        except openai.OpenAIError as exc:
            raise openai_error(exc) from exc
        answer = _Answer()
        try:
            async for chunk in stream:
                for item in answer.add(chunk):
                    yield item
        except openai.OpenAIError as exc:
            raise openai_error(exc) from exc
        finally:
            # Drops the connection at once: a barge-in must not leave the model talking.
            await stream.close()
        for item in answer.finish(started):
            yield item


def chat_messages(request: LlmRequest) -> list[ChatCompletionMessageParam]:
    """The system prompt and the conversation as chat messages."""
    messages: list[ChatCompletionMessageParam] = []
    system = system_prompt(request.system, request.language)
    if system.strip():
        messages.append({"role": "system", "content": system})
    for message in request.messages:
        messages.extend(_chat_message(message))
    return messages


def _chat_message(message: Message) -> list[ChatCompletionMessageParam]:
    if message.role == "assistant":
        calls: list[ChatCompletionMessageFunctionToolCallParam] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for call in message.tool_calls
        ]
        if calls:
            return [{"role": "assistant", "content": message.text or None, "tool_calls": calls}]
        return [{"role": "assistant", "content": message.text}] if message.text.strip() else []
    # Tool results answer the previous assistant turn, so they come before the caller's words.
    out: list[ChatCompletionMessageParam] = [
        {"role": "tool", "tool_call_id": result.tool_call_id, "content": json.dumps(result.content)}
        for result in message.tool_results
    ]
    if message.text.strip():
        out.append({"role": "user", "content": message.text})
    return out


def openai_error(exc: openai.OpenAIError) -> EngineError:
    """The typed error for an SDK failure, before the stream or inside it."""
    if isinstance(exc, openai.APITimeoutError):
        return EngineTimeoutError(ENGINE, "no answer from the server in time")
    if isinstance(exc, openai.APIConnectionError):
        return EngineUnavailableError(ENGINE, f"could not reach the server: {exc}")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        message = f"{status}: {exc.message}"
        if status == 429:
            return ThrottledError(ENGINE, message, status=status)
        if status == 401:
            return AuthenticationError(ENGINE, message, status=status)
        if status in (408, 504):
            return EngineTimeoutError(ENGINE, message, status=status)
        if 400 <= status < 500:
            return InvalidRequestError(ENGINE, message, status=status)
        return EngineUnavailableError(ENGINE, message, status=status)
    if isinstance(exc, openai.APIError):
        # An error object inside a 200 stream (vLLM does this): the answer broke midway.
        return ModelStreamError(ENGINE, exc.message)
    return EngineUnavailableError(ENGINE, f"{type(exc).__name__}: {exc}")


@dataclass
class _ToolCallParts:
    call_id: str = ""
    name: str = ""
    fragments: list[str] = field(default_factory=list)


@dataclass
class _Answer:
    """Assembles chat-completion chunks into ``LlmEvent``s."""

    tool_calls: dict[int, _ToolCallParts] = field(default_factory=dict)
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)

    def add(self, chunk: ChatCompletionChunk) -> list[LlmEvent]:
        if chunk.usage is not None:
            self.usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
        events: list[LlmEvent] = []
        for choice in chunk.choices:
            if choice.index != 0:
                continue
            if choice.delta.content:
                events.append(TextDelta(choice.delta.content))
            for delta in choice.delta.tool_calls or []:
                parts = self.tool_calls.setdefault(delta.index, _ToolCallParts())
                parts.call_id = parts.call_id or delta.id or ""
                if delta.function is not None:
                    parts.name = parts.name or delta.function.name or ""
                    parts.fragments.append(delta.function.arguments or "")
            if choice.finish_reason is not None:
                self.finish_reason = choice.finish_reason
        return events

    def finish(self, started: float) -> list[LlmEvent]:
        """The tool calls in index order, then the end of the answer."""
        if self.finish_reason is None:
            raise EngineUnavailableError(ENGINE, "the stream ended before a finish_reason")
        events: list[LlmEvent] = []
        for _, parts in sorted(self.tool_calls.items()):
            arguments = parse_tool_input(ENGINE, parts.name, "".join(parts.fragments))
            # Some servers (older Ollama) send no id; tool results only need a unique one.
            call_id = parts.call_id or f"call_{uuid.uuid4().hex[:24]}"
            events.append(ToolCall(id=call_id, name=parts.name, arguments=arguments))
        stop_reason = STOP_REASONS.get(self.finish_reason, self.finish_reason)
        latency_ms = round((time.monotonic() - started) * 1000)
        events.append(AnswerEnd(stop_reason, self.usage, latency_ms))
        return events
