"""The flow engine: an ``LlmEngine`` that follows an agent's conversation flow, no model needed.

Each call gets a ``FlowSession`` that remembers where the caller is in the flow. A turn reads
the last user message, moves through the graph until the flow must wait for the caller again
(a listen node), for a tool's outcome (a tool node with ``on_error``/``on_missing``) or the call
ends (transfer, end), and streams what to say a few words at a time as a cloud model would, so
the rest of the pipeline cannot tell the difference.

A tool node that waits ends the answer with its tool call (``stop_reason`` ``tool_use``), as a
model does; the call loop runs the tool and asks again with the result, and the flow goes on
along the branch the outcome picks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass

from aybiza.agents.flow_spec import (
    END_CALL_TOOL,
    TRANSFER_TOOL,
    EndNode,
    FlowSpec,
    ListenNode,
    SayNode,
    ToolNode,
    TransferNode,
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
from aybiza.providers.llm.flow_matching import (
    CallerInput,
    as_sentences,
    fill_arguments,
    fill_slots,
    match_branch,
    tool_outcome,
)

# Words per TextDelta: small enough to look like a streaming model, large enough to be cheap.
WORDS_PER_DELTA = 3

# What a turn produces, in speaking order: sentences to say and tool calls to make.
_Part = str | ToolCall


@dataclass(frozen=True, slots=True)
class _PendingTool:
    """A tool node whose tool call was made and whose outcome the flow waits for."""

    node: ToolNode
    tool_call_id: str


class FlowEngine:
    """An ``LlmEngine`` that runs a ``FlowSpec``; it holds no per-call state itself.

    ``tools_enabled``: whether the agent's calls can run tools at all; when not, a tool node
    makes no tool call and follows its missing-tool branch.
    """

    name = "flow"
    is_scripted = True

    def __init__(self, flow: FlowSpec, *, tools_enabled: bool = True) -> None:
        self._flow = flow
        self._tools_enabled = tools_enabled

    @property
    def flow(self) -> FlowSpec:
        """The flow every session of this engine follows."""
        return self._flow

    def open_session(self, call_id: str) -> FlowSession:
        """A session for one call, positioned before the flow's start node."""
        return FlowSession(self._flow, call_id, tools_enabled=self._tools_enabled)

    async def aclose(self) -> None:
        """Nothing to release: the engine holds no connections or models."""


class FlowSession:
    """One call's position in the flow, its retry count and the slots the caller filled.

    The whole turn is planned and the position committed before anything is streamed, so a
    consumer that stops reading (the caller barged in) leaves the session at the node the
    interrupted answer led to, ready to match the caller's next words against it.
    """

    def __init__(self, flow: FlowSpec, call_id: str, *, tools_enabled: bool = True) -> None:
        self._flow = flow
        self._call_id = call_id
        self._tools_enabled = tools_enabled
        self._node_id: str | None = None
        # The listen node awaiting the caller (None before the first turn and after the end).
        self._waiting: ListenNode | None = None
        self._finished = False
        self._retries = 0
        self._slots: dict[str, str] = {}
        self._tool_calls = 0
        self._pending: _PendingTool | None = None

    @property
    def node_id(self) -> str | None:
        """The listen node awaiting the caller, the tool node awaiting its outcome, or the
        transfer/end node that finished the call; ``None`` before the first turn."""
        return self._node_id

    @property
    def awaiting_tool_call(self) -> str | None:
        """The id of the tool call whose outcome the flow waits for, if any."""
        return self._pending.tool_call_id if self._pending is not None else None

    @property
    def finished(self) -> bool:
        """True once a transfer or end node ran: later turns say nothing."""
        return self._finished

    @property
    def slots(self) -> Mapping[str, str]:
        """Captured caller answers by slot name."""
        return dict(self._slots)

    async def respond(self, request: LlmRequest) -> AsyncGenerator[LlmEvent, None]:
        """Advance the flow with the last user message (or the outcome of the tool it waits
        for) and stream what the agent says."""
        caller, tool_results_only = _last_caller_input(request.messages)
        if self._pending is not None:
            parts = self._resume(self._pending, request.messages)
        elif tool_results_only:
            parts = []
        else:
            parts = self._advance(caller)
        words_spoken = 0
        tool_used = False
        for part in parts:
            if isinstance(part, ToolCall):
                tool_used = True
                yield part
                continue
            # Sentences after the first need a separating space once the deltas are joined.
            text = part if words_spoken == 0 else " " + part
            for delta in _deltas(text):
                yield TextDelta(delta)
                # Give the event loop a turn, like a network stream, so cancellation is prompt.
                await asyncio.sleep(0)
            words_spoken += len(part.split())
        usage = Usage(input_tokens=len(caller.text.split()), output_tokens=words_spoken)
        yield AnswerEnd(stop_reason="tool_use" if tool_used else "end_turn", usage=usage)

    def _advance(self, caller: CallerInput) -> list[_Part]:
        if self._finished:
            return []
        parts: list[_Part] = []
        if self._waiting is None:
            start = self._flow.nodes[self._flow.start]
            if not isinstance(start, ListenNode):
                self._run_from(self._flow.start, parts)
                return parts
            # The greeting already invited the caller to speak, so the first utterance answers
            # the start node without its prompt being spoken.
            self._node_id, self._waiting = self._flow.start, start
        self._answer(self._waiting, caller, parts)
        return parts

    def _resume(self, pending: _PendingTool, messages: Sequence[Message]) -> list[_Part]:
        """Go on from a waiting tool node along the branch its outcome picks.

        Words the caller said while the tool ran are not matched: they answered no question
        the flow asked, and the branch taken will ask its own.
        """
        self._pending = None
        parts: list[_Part] = []
        self._run_from(pending.node.after(tool_outcome(pending.tool_call_id, messages)), parts)
        return parts

    def _answer(self, node: ListenNode, caller: CallerInput, parts: list[_Part]) -> None:
        branch = match_branch(node.branches, caller)
        if branch is not None:
            if node.capture is not None:
                self._slots[node.capture] = caller.capture_value
            self._run_from(branch.next, parts)
            return
        self._retries += 1
        if self._retries > node.max_retries and node.on_max_retries is not None:
            self._run_from(node.on_max_retries, parts)
            return
        self._say(node.fallback.text, parts)
        if node.fallback.next is not None and node.fallback.next != self._node_id:
            self._run_from(node.fallback.next, parts)

    def _run_from(self, node_id: str, parts: list[_Part]) -> None:
        """Walk from ``node_id`` to the next listen node or the end of the call.

        The flow's validation rejects say/tool loops, so this walk always stops; it also stops
        at a tool node that waits for its outcome.
        """
        while True:
            node = self._flow.nodes[node_id]
            if isinstance(node, SayNode):
                self._say(node.text, parts)
                node_id = node.next
            elif isinstance(node, ToolNode):
                if not self._tools_enabled:
                    node_id = node.after("missing")
                    continue
                call = self._tool_call(node.tool, fill_arguments(node.arguments, self._slots))
                parts.append(call)
                if node.waits_for_outcome:
                    self._pending = _PendingTool(node, call.id)
                    self._node_id, self._waiting = node_id, None
                    return
                node_id = node.next
            elif isinstance(node, ListenNode):
                self._node_id, self._waiting, self._retries = node_id, node, 0
                if node.prompt is not None:
                    self._say(node.prompt, parts)
                return
            elif isinstance(node, TransferNode):
                self._say(node.text, parts)
                parts.append(self._tool_call(TRANSFER_TOOL, {"to": node.to}))
                self._finish(node_id)
                return
            else:
                self._end(node_id, node, parts)
                return

    def _end(self, node_id: str, node: EndNode, parts: list[_Part]) -> None:
        self._say(node.text, parts)
        parts.append(self._tool_call(END_CALL_TOOL, {}))
        self._finish(node_id)

    def _finish(self, node_id: str) -> None:
        self._node_id, self._waiting, self._finished = node_id, None, True

    def _say(self, template: str | None, parts: list[_Part]) -> None:
        if template is None:
            return
        text = as_sentences(fill_slots(template, self._slots))
        if text:
            parts.append(text)

    def _tool_call(self, name: str, arguments: dict[str, object]) -> ToolCall:
        self._tool_calls += 1
        return ToolCall(
            id=f"flow-{self._call_id}-{self._tool_calls}", name=name, arguments=arguments
        )


def _last_caller_input(messages: Sequence[Message]) -> tuple[CallerInput, bool]:
    """The caller's latest turn, and whether it only carries tool results.

    Tool results come back after a ``tool_use`` answer; the flow already moved past the tool
    node in that answer, so such a message is acknowledged with an empty answer rather than
    treated as a caller who said nothing.
    """
    for message in reversed(messages):
        if message.role == "user":
            caller = CallerInput.from_message_text(message.text)
            return caller, caller.is_empty and bool(message.tool_results)
    return CallerInput(text=""), False


def _deltas(text: str) -> list[str]:
    """Split text into deltas of a few words that concatenate back to ``text``."""
    words = text.split(" ")
    return [
        " ".join(words[i : i + WORDS_PER_DELTA]) + (" " if i + WORDS_PER_DELTA < len(words) else "")
        for i in range(0, len(words), WORDS_PER_DELTA)
    ]
