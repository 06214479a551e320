"""``ConverseStream``'s response body: AWS event-stream frames, assembled into ``LlmEvent``s.

The body (``application/vnd.amazon.eventstream``) is a sequence of binary frames; botocore's
``EventStreamBuffer`` cuts and checks them (lengths, both CRCs). A frame's ``:message-type``
is ``event`` (its ``:event-type`` names the union member, its payload is that member's JSON
without the wrapper key), ``exception`` (a modelled error such as ``throttlingException``) or
``error`` (``:error-code`` and ``:error-message`` headers). Events a stream may carry that an
answer does not need (``messageStart``, reasoning deltas, padding members) are skipped.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator, AsyncIterable
from dataclasses import dataclass, field
from typing import Any

from botocore.eventstream import EventStreamBuffer

from aybiza.providers.base import AnswerEnd, LlmEvent, TextDelta, ToolCall, Usage
from aybiza.providers.errors import EngineUnavailableError
from aybiza.providers.llm.bedrock_errors import ENGINE, stream_error
from aybiza.providers.llm.tool_input import parse_tool_input


async def converse_events(
    chunks: AsyncIterable[bytes],
) -> AsyncGenerator[tuple[str, dict[str, Any]], None]:
    """``(event type, payload)`` of each event frame in the body ``chunks``; an exception or
    error frame raises its typed ``EngineError``, a corrupt frame botocore's ``ParserError``."""
    frames = EventStreamBuffer()
    async for chunk in chunks:
        frames.add_data(chunk)
        for frame in frames:
            headers = frame.headers
            if headers.get(":message-type", "event") != "event":
                raise stream_error(headers, frame.payload)
            try:
                payload = json.loads(frame.payload) if frame.payload else {}
            except ValueError as exc:
                raise EngineUnavailableError(ENGINE, f"an event is not JSON: {exc}") from exc
            yield headers.get(":event-type", ""), payload


@dataclass
class _ToolBlock:
    tool_use_id: str
    name: str
    fragments: list[str] = field(default_factory=list)


@dataclass
class ConverseAnswer:
    """Assembles ConverseStream events into ``LlmEvent``s: text deltas as they come, a tool
    call once its block stops, and the end with the stop reason, usage and latency."""

    tools: dict[int, _ToolBlock] = field(default_factory=dict)
    stop_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    latency_ms: int | None = None

    def add(self, event_type: str, body: dict[str, Any]) -> list[LlmEvent]:
        """What one event adds to the answer."""
        if event_type == "contentBlockDelta":
            delta = body.get("delta", {})
            if delta.get("text"):
                return [TextDelta(delta["text"])]
            tool = self.tools.get(body.get("contentBlockIndex", -1))
            if tool is not None and "toolUse" in delta:
                tool.fragments.append(delta["toolUse"].get("input", ""))
        elif event_type == "contentBlockStart":
            start = body.get("start", {}).get("toolUse")
            if start is not None:
                self.tools[body["contentBlockIndex"]] = _ToolBlock(
                    start["toolUseId"], start["name"]
                )
        elif event_type == "contentBlockStop":
            tool = self.tools.pop(body.get("contentBlockIndex", -1), None)
            if tool is not None:
                arguments = parse_tool_input(ENGINE, tool.name, "".join(tool.fragments))
                return [ToolCall(id=tool.tool_use_id, name=tool.name, arguments=arguments)]
        elif event_type == "messageStop":
            self.stop_reason = body.get("stopReason", "end_turn")
        elif event_type == "metadata":
            usage = body.get("usage", {})
            self.usage = Usage(usage.get("inputTokens", 0), usage.get("outputTokens", 0))
            self.latency_ms = body.get("metrics", {}).get("latencyMs")
        return []

    def end(self, started: float) -> AnswerEnd:
        """The answer's end; raises if the stream stopped before ``messageStop``."""
        if self.stop_reason is None:
            # The body ended cleanly but without messageStop: the connection was cut short.
            raise EngineUnavailableError(ENGINE, "the stream ended before messageStop")
        latency_ms = self.latency_ms
        if latency_ms is None:
            latency_ms = round((time.monotonic() - started) * 1000)
        return AnswerEnd(self.stop_reason, self.usage, latency_ms)
