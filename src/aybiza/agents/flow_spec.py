"""A conversation flow: a graph of nodes an agent follows without any language model.

``{"start": "main", "nodes": {"main": {"type": "listen", ...}, ...}}``. Node types:

- ``say``: speak ``text``, then go on to ``next`` without waiting for the caller.
- ``listen``: speak the optional ``prompt``, wait for the caller and pick a branch by keywords
  or keypad digits; when nothing matches, speak the ``fallback``.
- ``tool``: ask the platform to run a tool, then go on to ``next``; with ``on_error`` or
  ``on_missing`` the flow waits for the tool's outcome and branches on it.
- ``transfer``: speak the optional ``text``, then transfer the call ``to`` a number or SIP URI.
- ``end``: speak the optional ``text``, then hang up.

Spoken text and string tool arguments may contain ``{{slot}}`` placeholders, filled with what
the caller said at a listen node declaring ``"capture": "slot"``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from aybiza.agents.errors import FieldError, located_error

NODE_TYPES = frozenset({"say", "listen", "tool", "transfer", "end"})
# Tools the transfer and end nodes emit; the pipeline acts on them by ending the call.
TRANSFER_TOOL = "transfer_call"
END_CALL_TOOL = "end_call"
CALL_CONTROL_TOOLS = frozenset({TRANSFER_TOOL, END_CALL_TOOL})

ToolOutcomeKind = Literal["ok", "error", "missing"]
"""How a tool node's tool call ended: it worked, it failed, or the agent has no such tool."""
# An error result whose content carries ``{"code": MISSING_TOOL_CODE}`` says the agent has no
# tool of that name (the tool runner sets it); a flow tells it apart from a tool that failed.
MISSING_TOOL_CODE = "unknown_tool"

# Node ids appear inside dotted error paths, so they may not contain dots or spaces.
NODE_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
SLOT_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")

NodeId = Annotated[str, Field(pattern=NODE_ID_PATTERN)]
SpokenText = Annotated[str, Field(min_length=1, pattern=r"\S")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Branch(_Strict):
    """One way out of a listen node.

    Matches when the caller's words contain any of ``keywords`` (whole words, any case; a
    keyword may be a phrase) or when the caller pressed one of ``digits``. A branch with neither
    matches anything the caller says or presses, ranked below every keyword match.
    """

    intent: str | None = Field(
        default=None, description="Label for analytics and for engines that classify intents."
    )
    keywords: list[str] = Field(default_factory=list, description="Words or phrases to match.")
    digits: list[Annotated[str, Field(pattern=r"^[0-9*#]+$")]] = Field(
        default_factory=list, description="Keypad (DTMF) entries that pick this branch."
    )
    next: NodeId

    @field_validator("keywords")
    @classmethod
    def _normalise_keywords(cls, keywords: list[str]) -> list[str]:
        cleaned = [" ".join(keyword.lower().split()) for keyword in keywords]
        if any(not keyword for keyword in cleaned):
            raise ValueError("keywords may not be empty or blank")
        return cleaned

    @property
    def is_catch_all(self) -> bool:
        """True when the branch has no keywords and no digits, so it matches any input."""
        return not self.keywords and not self.digits


class Fallback(_Strict):
    """What a listen node says when nothing matched; ``next`` unset means stay and listen."""

    text: SpokenText = "Sorry, I did not catch that. Could you say that again?"
    next: NodeId | None = None


class SayNode(_Strict):
    """Speak ``text`` and go on to ``next`` without waiting for the caller."""

    type: Literal["say"]
    text: SpokenText
    next: NodeId


class ListenNode(_Strict):
    """Wait for the caller and branch on what they say or press.

    The caller gets ``max_retries`` more attempts after a miss, each answered with the
    fallback; the miss after those goes to ``on_max_retries`` (unset: keep falling back).
    """

    type: Literal["listen"]
    prompt: SpokenText | None = None
    branches: list[Branch] = Field(min_length=1)
    fallback: Fallback = Fallback()
    max_retries: int = Field(default=2, ge=0, le=10)
    on_max_retries: NodeId | None = None
    capture: str | None = Field(
        default=None,
        pattern=SLOT_PATTERN,
        description="Slot that receives the caller's whole utterance when a branch matches.",
    )


class ToolNode(_Strict):
    """Ask the platform to run ``tool`` with ``arguments`` (placeholders filled).

    Without ``on_error`` and ``on_missing`` the flow goes on to ``next`` at once: the tool runs
    after the words before it are spoken, whatever its outcome. With either of them the flow
    waits for the outcome: ``next`` when the tool worked, ``on_error`` when it failed or its
    outcome never came back (unset: ``next``), ``on_missing`` when the agent has no such tool
    (unset: ``on_error``, then ``next``).
    """

    type: Literal["tool"]
    tool: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    arguments: dict[str, Any] = Field(default_factory=dict)
    next: NodeId
    on_error: NodeId | None = Field(
        default=None, description="Where to go when the tool failed (waits for the outcome)."
    )
    on_missing: NodeId | None = Field(
        default=None,
        description="Where to go when the agent has no such tool (waits for the outcome).",
    )

    @field_validator("tool")
    @classmethod
    def _not_a_call_control_tool(cls, tool: str) -> str:
        # The pipeline hangs up or transfers on these; a flow would carry on talking regardless.
        if tool in CALL_CONTROL_TOOLS:
            raise ValueError(f"{tool!r} is reserved: use a transfer or end node")
        return tool

    @property
    def waits_for_outcome(self) -> bool:
        """True when the node branches on the tool's outcome, so the flow waits for it."""
        return self.on_error is not None or self.on_missing is not None

    def after(self, outcome: ToolOutcomeKind) -> str:
        """The node the flow goes to once the tool's outcome is known."""
        if outcome == "missing":
            return self.on_missing or self.on_error or self.next
        if outcome == "error":
            return self.on_error or self.next
        return self.next

    def exits(self) -> list[tuple[str, str]]:
        """(field, node id) of every way out of the node."""
        fields = (("next", self.next), ("on_error", self.on_error), ("on_missing", self.on_missing))
        return [(name, target) for name, target in fields if target is not None]


class TransferNode(_Strict):
    """Speak ``text`` (optional), then transfer the call to an E.164 number or SIP URI."""

    type: Literal["transfer"]
    text: SpokenText | None = None
    to: str = Field(pattern=r"^(\+[1-9][0-9]{6,14}|sips?:\S+)$")


class EndNode(_Strict):
    """Speak ``text`` (optional), then hang up."""

    type: Literal["end"]
    text: SpokenText | None = None


FlowNode = Annotated[
    SayNode | ListenNode | ToolNode | TransferNode | EndNode, Field(discriminator="type")
]


class FlowSpec(_Strict):
    """A conversation flow. Every reference must name a node, and the flow must wait for the
    caller somewhere on every path: a loop made only of say and tool nodes is rejected."""

    start: NodeId
    nodes: dict[str, FlowNode] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_graph(self) -> FlowSpec:
        problems = [*self._bad_ids(), *self._dangling_references()]
        if not problems:
            problems = [*self._unknown_slots(), *self._silent_loops()]
        if problems:
            raise located_error(problems)
        return self

    def _bad_ids(self) -> list[FieldError]:
        return [
            FieldError(f"nodes.{node_id}", f"node id must match {NODE_ID_PATTERN}", node_id)
            for node_id in self.nodes
            if not re.fullmatch(NODE_ID_PATTERN, node_id)
        ]

    def _references(self) -> list[tuple[str, str]]:
        """Every (path, node id) reference in the flow, ``start`` first."""
        refs = [("start", self.start)]
        for node_id, node in self.nodes.items():
            base = f"nodes.{node_id}"
            if isinstance(node, SayNode):
                refs.append((f"{base}.next", node.next))
            elif isinstance(node, ToolNode):
                refs.extend((f"{base}.{name}", target) for name, target in node.exits())
            elif isinstance(node, ListenNode):
                refs.extend(
                    (f"{base}.branches.{i}.next", b.next) for i, b in enumerate(node.branches)
                )
                if node.fallback.next is not None:
                    refs.append((f"{base}.fallback.next", node.fallback.next))
                if node.on_max_retries is not None:
                    refs.append((f"{base}.on_max_retries", node.on_max_retries))
        return refs

    def _dangling_references(self) -> list[FieldError]:
        known = ", ".join(sorted(self.nodes))
        return [
            FieldError(path, f"no node named {target!r}; nodes are: {known}", target)
            for path, target in self._references()
            if target not in self.nodes
        ]

    def _unknown_slots(self) -> list[FieldError]:
        captured = {n.capture for n in self.nodes.values() if isinstance(n, ListenNode)}
        captured.discard(None)
        problems: list[FieldError] = []
        for path, text in self._texts():
            for slot in PLACEHOLDER.findall(text):
                if slot not in captured:
                    names = ", ".join(sorted(s for s in captured if s)) or "none"
                    message = (
                        f"placeholder {{{{{slot}}}}} names no captured slot; captured: {names}"
                    )
                    problems.append(FieldError(path, message, text))
        return problems

    def _texts(self) -> list[tuple[str, str]]:
        texts: list[tuple[str, str]] = []
        for node_id, node in self.nodes.items():
            base = f"nodes.{node_id}"
            if isinstance(node, ListenNode):
                texts.append((f"{base}.fallback.text", node.fallback.text))
                if node.prompt is not None:
                    texts.append((f"{base}.prompt", node.prompt))
            elif isinstance(node, ToolNode):
                texts.extend((f"{base}.arguments.{k}", v) for k, v in _strings(node.arguments))
            elif node.text is not None:
                texts.append((f"{base}.text", node.text))
        return texts

    def _silent_loops(self) -> list[FieldError]:
        """Say/tool chains that come back to themselves would speak (or call tools) forever,
        whichever way each tool's outcome goes; each loop is reported once, at its first node."""
        problems: list[FieldError] = []
        in_reported_loop: set[str] = set()
        for node_id, node in self.nodes.items():
            if node_id in in_reported_loop or not isinstance(node, SayNode | ToolNode):
                continue
            loop = self._loop_back_to(node_id)
            if loop is not None:
                exit_field, chain = loop
                path = " -> ".join(chain)
                message = f"say/tool nodes loop without waiting for the caller: {path}"
                # chain[1] is where the reported exit leads: the value the author wrote there.
                problems.append(FieldError(f"nodes.{node_id}.{exit_field}", message, chain[1]))
                in_reported_loop.update(chain)
        return problems

    def _loop_back_to(self, start: str) -> tuple[str, list[str]] | None:
        """A path of say/tool nodes from ``start`` back to it: the exit of ``start`` it leaves
        by, and the node ids along it (``start`` at both ends); None when there is none."""
        visited = {start}
        # Depth first, ``next`` before the outcome branches, so the reported chain is the
        # one an author reads first.
        stack: list[tuple[str, list[str], str | None]] = [(start, [start], None)]
        while stack:
            node_id, chain, first_exit = stack.pop()
            exits = _silent_exits(self.nodes[node_id])
            for exit_field, target in exits:
                if target == start:
                    return first_exit or exit_field, [*chain, start]
            for exit_field, target in reversed(exits):
                if target in visited or not isinstance(self.nodes[target], SayNode | ToolNode):
                    continue
                visited.add(target)
                stack.append((target, [*chain, target], first_exit or exit_field))
        return None


def _silent_exits(node: FlowNode) -> list[tuple[str, str]]:
    """Ways out of a node that do not wait for the caller."""
    if isinstance(node, SayNode):
        return [("next", node.next)]
    if isinstance(node, ToolNode):
        return node.exits()
    return []


def _strings(value: Any, path: str = "") -> list[tuple[str, str]]:
    """Every string inside a JSON-like value, with its dotted path."""
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        items: list[tuple[str, Any]] = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, list):
        items = [(str(i), v) for i, v in enumerate(value)]
    else:
        return []
    found: list[tuple[str, str]] = []
    for key, item in items:
        found.extend(_strings(item, f"{path}.{key}" if path else key))
    return found
