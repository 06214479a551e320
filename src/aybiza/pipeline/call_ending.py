"""What the call loop does with ``end_call`` / ``transfer_call`` once the answer that asked for
them has been heard: hang up, transfer (with a warm transfer's summary), or, when the tool's
precondition says not now, tell the model why on its next turn."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aybiza.conversation.engine import Conversation
from aybiza.conversation.tools import CALL_ENDING, END_CALL, TRANSFER_CALL, ToolRunner
from aybiza.providers.base import ToolCall, ToolResult


@dataclass(frozen=True, slots=True)
class CallEnding:
    """The call ends: ``reason`` (``agent-ended`` or ``transferred``), and for a transfer its
    target and the summary the person answering hears first."""

    reason: str
    transfer_to: str | None = None
    summary: str | None = None


def call_ending(
    tool_calls: Sequence[ToolCall], tools: ToolRunner | None, conversation: Conversation
) -> CallEnding | None:
    """The first call-ending tool call whose precondition holds, as what the loop must do;
    refused ones are answered in the conversation."""
    for call in tool_calls:
        if call.name in CALL_ENDING and tools is not None:
            refusal = tools.check_precondition(call, conversation.messages)
            if refusal is not None:
                # Not now: the model hears why on its next turn.
                conversation.add_agent("", [call])
                conversation.add_tool_results(
                    [ToolResult(call.id, {"error": refusal}, is_error=True)]
                )
                continue
        if call.name == END_CALL:
            return CallEnding("agent-ended")
        if call.name == TRANSFER_CALL:
            summary = str(call.arguments.get("summary", "")).strip()
            return CallEnding(
                "transferred",
                transfer_to=str(call.arguments.get("to", "")) or None,
                summary=summary[:500] or None,
            )
    return None
