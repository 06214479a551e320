"""OpenAI Chat Completions on the wire: the request's messages, and the streamed chunks
assembled into ``LlmEvent``s (text deltas, tool calls in index order, the end with usage).
Plain dicts, encoded and decoded by ``json``; ``openai_compat`` does the HTTP."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aybiza.providers.base import (
    AnswerEnd,
    LlmEvent,
    LlmRequest,
    Message,
    TextDelta,
    ToolCall,
    Usage,
)
from aybiza.providers.errors import EngineUnavailableError, ModelStreamError
from aybiza.providers.llm.prompting import request_system_prompt
from aybiza.providers.llm.tool_input import parse_tool_input

ENGINE = "openai"
# Server error text kept in an error message.
MAX_ERROR_TEXT = 500
# finish_reason -> Bedrock's stop reasons, the names ``AnswerEnd`` uses.
STOP_REASONS = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
    "content_filter": "content_filtered",
}

# A chat message, tool or chunk as JSON: plain dicts, encoded and decoded by ``json``.
ChatMessage = dict[str, Any]


def parse_chunk(data: str) -> dict[str, Any]:
    """One ``chat.completion.chunk``; an ``error`` object in it is the model failing midway."""
    try:
        chunk = json.loads(data)
    except ValueError as exc:
        raise EngineUnavailableError(
            ENGINE, f"the server sent a chunk that is not JSON: {data[:200]!r}"
        ) from exc
    if not isinstance(chunk, dict):
        raise EngineUnavailableError(
            ENGINE, f"the server sent a chunk that is not an object: {data[:200]!r}"
        )
    if chunk.get("error"):
        # An error object inside a 200 stream (vLLM does this): the answer broke midway.
        raise ModelStreamError(ENGINE, error_text(chunk["error"]) or "the model failed midway")
    return chunk


def stream_error_message(data: str) -> str:
    """The message of an ``event: error`` event, whose data may be JSON or plain text."""
    try:
        payload = json.loads(data)
    except ValueError:
        return data.strip()[:MAX_ERROR_TEXT] or "the model failed midway"
    if isinstance(payload, dict):
        return error_text(payload.get("error", payload)) or "the model failed midway"
    return data.strip()[:MAX_ERROR_TEXT] or "the model failed midway"


def error_text(error: Any) -> str:
    """The message of an error object (``{"message": ...}``) or an error given as a string."""
    if isinstance(error, str):
        return error
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    return ""


def chat_messages(request: LlmRequest) -> list[ChatMessage]:
    """The system prompt and the conversation as chat messages."""
    messages: list[ChatMessage] = []
    system = request_system_prompt(request)
    if system.strip():
        messages.append({"role": "system", "content": system})
    for message in request.messages:
        messages.extend(_chat_message(message))
    return messages


def _chat_message(message: Message) -> list[ChatMessage]:
    if message.role == "assistant":
        calls: list[ChatMessage] = [
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
    out: list[ChatMessage] = [
        {"role": "tool", "tool_call_id": result.tool_call_id, "content": json.dumps(result.content)}
        for result in message.tool_results
    ]
    if message.text.strip():
        out.append({"role": "user", "content": message.text})
    return out


@dataclass
class _ToolCallParts:
    call_id: str = ""
    name: str = ""
    fragments: list[str] = field(default_factory=list)


@dataclass
class Answer:
    """Assembles chat-completion chunks (decoded JSON) into ``LlmEvent``s."""

    tool_calls: dict[int, _ToolCallParts] = field(default_factory=dict)
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)

    def add(self, chunk: dict[str, Any]) -> list[LlmEvent]:
        try:
            return self._add(chunk)
        except (AttributeError, TypeError, ValueError) as exc:
            raise EngineUnavailableError(
                ENGINE, f"the server sent a malformed chunk ({exc}): {json.dumps(chunk)[:200]}"
            ) from exc

    def _add(self, chunk: dict[str, Any]) -> list[LlmEvent]:
        usage = chunk.get("usage")
        if usage:
            self.usage = Usage(
                int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
            )
        events: list[LlmEvent] = []
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            if delta:
                content = delta.get("content")
                if content:
                    events.append(TextDelta(content))
                for call in delta.get("tool_calls") or ():
                    self._add_tool_call(call)
            finish_reason = choice.get("finish_reason")
            if finish_reason is not None:
                self.finish_reason = finish_reason
        return events

    def _add_tool_call(self, call: dict[str, Any]) -> None:
        index = call.get("index")
        if index is None:
            # Servers that omit the index send each call whole: a new id is a new call.
            index = len(self.tool_calls) if call.get("id") else max(self.tool_calls, default=0)
        parts = self.tool_calls.setdefault(index, _ToolCallParts())
        parts.call_id = parts.call_id or call.get("id") or ""
        function = call.get("function")
        if function is not None:
            parts.name = parts.name or function.get("name") or ""
            parts.fragments.append(function.get("arguments") or "")

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
