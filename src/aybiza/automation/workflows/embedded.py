"""The embedded extractor: post-call analysis without any cloud model, by documented rules that
read the whole call (both sides, every turn), never just its last line.

- ``summary``: the caller's first substantive line, the agent's last line and how the call ended.
- ``sentiment``: each caller line casts one vote from a small lexicon (thanks are never
  negative); the call's sentiment is the sign of the sum (``sentiment``).
- ``success``: the call was finished (by the agent, or by a caller who closed it or whose errand
  was done), the agent did not end up saying it could not do something, understood the caller,
  the caller's last words were not negative and every requested field was found (``outcome``).
- ``fields``: a slot the agent's flow captured under the same name (the caller's turns are
  replayed through the flow, each tool call answered as it was answered during the call), else a
  pattern chosen by words in the field's name or description (email, phone, date, time,
  number/amount, name, yes/no); else null.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aybiza.agents.flow_spec import CALL_CONTROL_TOOLS, MISSING_TOOL_CODE, FlowSpec
from aybiza.automation.workflows.outcome import call_outcome
from aybiza.automation.workflows.sentiment import caller_sentiment
from aybiza.providers.base import LlmRequest, Message, ToolCall, ToolResult
from aybiza.providers.llm.flow import FlowEngine

METHOD = "embedded-rules"
_PATTERNS: tuple[tuple[tuple[str, ...], re.Pattern[str]], ...] = (
    (("email", "e-mail"), re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")),
    (("phone", "mobile", "callback"), re.compile(r"\+?\d[\d\s().-]{6,}\d")),
    (
        ("date", "day"),
        re.compile(
            r"\b(today|tomorrow|(?:next\s+)?(?:mon|tues|wednes|thurs|fri|satur|sun)day|"
            r"\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}(?:/\d{2,4})?|"
            r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2}(?:st|nd|rd|th)?)\b",
            re.IGNORECASE,
        ),
    ),
    (
        ("time", "hour"),
        re.compile(r"\b\d{1,2}(?::\d{2})?\s*(?:am|pm|a\.m\.|p\.m\.)|\b\d{1,2}:\d{2}\b", re.I),
    ),
    (("name",), re.compile(r"\b(?:my name is|this is|i am|i'm)\s+([A-Z][a-z]+(?:\s[A-Z][a-z]+)?)")),
    (
        ("number", "count", "amount", "size", "quantity", "order", "account", "id"),
        re.compile(r"\b\d[\d-]*\b"),
    ),
    (
        ("yes", "whether", "confirm", "agree", "wants"),
        re.compile(r"\b(yes|yeah|yep|no|nope)\b", re.I),
    ),
)


@dataclass(frozen=True, slots=True)
class Transcript:
    """What the analysis reads: caller and agent lines in order, the caller's turns, and how
    the call ended."""

    lines: Sequence[tuple[str, str]]
    caller_turns: Sequence[str] = ()
    ended_reason: str | None = None
    slots: Mapping[str, str] = field(default_factory=dict)

    @property
    def caller_lines(self) -> list[str]:
        """What the caller said."""
        return [text for speaker, text in self.lines if speaker == "caller" and text.strip()]

    @property
    def agent_lines(self) -> list[str]:
        """What the caller heard the agent say."""
        return [text for speaker, text in self.lines if speaker == "agent" and text.strip()]


async def flow_slots(
    flow: FlowSpec,
    caller_turns: Sequence[str],
    call_id: str,
    tool_outcomes: Mapping[str, str] | None = None,
    *,
    tools_enabled: bool = True,
) -> dict[str, str]:
    """The slots the flow captured, by replaying the caller's turns through it.

    The replay runs under the call's own id, so its tool calls have the ids they had during the
    call; each is answered with the outcome recorded then (``tool_outcomes``: tool call id ->
    ``ok``, ``unknown_tool`` or another failure), so a flow that branched on a tool's outcome
    takes the same branch again. A tool call with no record never ran: it is not answered.
    """
    outcomes = tool_outcomes or {}
    session = FlowEngine(flow, tools_enabled=tools_enabled).open_session(call_id)
    for text in caller_turns:
        messages: list[Message] = [Message(role="user", text=text)]
        while True:
            calls: list[ToolCall] = []
            async for event in session.respond(LlmRequest(system="", messages=tuple(messages))):
                if isinstance(event, ToolCall) and event.name not in CALL_CONTROL_TOOLS:
                    calls.append(event)
            results = [_recorded_result(call, outcomes) for call in calls if call.id in outcomes]
            if not results:
                break
            messages += [
                Message(role="assistant", tool_calls=calls),
                Message(role="user", tool_results=results),
            ]
    return dict(session.slots)


def _recorded_result(call: ToolCall, outcomes: Mapping[str, str]) -> ToolResult:
    outcome = outcomes[call.id]
    if outcome == "ok":
        return ToolResult(call.id, {})
    content = {
        "error": outcome,
        **({"code": MISSING_TOOL_CODE} if outcome == "unknown_tool" else {}),
    }
    return ToolResult(call.id, content, is_error=True)


def extract_field(name: str, description: str, transcript: Transcript) -> str | None:
    """The value of one field by the rules in the module docstring, or None."""
    if transcript.slots.get(name):
        return transcript.slots[name]
    words = f"{name} {description}".lower().replace("_", " ")
    text = " \n".join(transcript.caller_lines)
    for keys, pattern in _PATTERNS:
        if any(re.search(rf"\b{re.escape(key)}", words) for key in keys):
            match = pattern.search(text)
            if match is not None:
                return (match.group(1) if match.groups() else match.group(0)).strip()
            return None
    return None


def summarize(transcript: Transcript) -> str:
    """A short summary from the transcript's turns."""
    caller = [line for line in transcript.caller_lines if len(line.split()) >= 3]
    caller = caller or transcript.caller_lines
    if not caller:
        return "The caller said nothing the agent could recognise."
    parts = [f"The caller said: \u201c{_clip(caller[0])}\u201d."]
    if transcript.agent_lines:
        parts.append(f"The agent's last words: \u201c{_clip(transcript.agent_lines[-1])}\u201d.")
    turns = len(transcript.caller_lines)
    how = {
        "agent-ended": "ended by the agent",
        "transferred": "transferred to a person",
        "caller-hangup": "the caller hung up",
    }.get(transcript.ended_reason or "", f"ended: {transcript.ended_reason or 'unknown'}")
    parts.append(f"{turns} caller turn{'s' if turns != 1 else ''}; {how}.")
    return " ".join(parts)


def _clip(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def analyze(transcript: Transcript, fields: Mapping[str, str]) -> dict[str, Any]:
    """The whole analysis: summary, sentiment, success (with a reason) and the fields."""
    values = {name: extract_field(name, text, transcript) for name, text in fields.items()}
    missing = [name for name, value in values.items() if value is None]
    outcome = call_outcome(transcript.lines, transcript.ended_reason, missing)
    return {
        "summary": summarize(transcript),
        "sentiment": caller_sentiment(transcript.caller_lines),
        "success": outcome.success,
        "success_reason": outcome.reason,
        "fields": values,
    }
