"""Preconditions that can veto a tool call before it runs (for example: ``end_call`` only after
the caller said goodbye). The veto goes back to the model as an error result, so it can carry on
the conversation instead.

A tool's ``precondition`` option is the shorthand ``"caller_said_goodbye"`` or an object::

    {"caller_said": ["goodbye", "bye"], "within_last_turns": 2, "min_caller_turns": 1}

``caller_said``: one of these words or phrases (whole words, any case) appears in what the caller
said in their last ``within_last_turns`` turns. ``min_caller_turns``: the caller spoke at least
this many times. Every condition given must hold.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from aybiza.providers.base import Message

GOODBYES = (
    "bye",
    "goodbye",
    "good bye",
    "bye bye",
    "that's all",
    "that is all",
    "that's it",
    "nothing else",
    "hang up",
    "have a good day",
    "have a nice day",
)

Phrase = Annotated[str, Field(min_length=1, max_length=100, pattern=r"\S")]
# A transcript entry: a conversation message, or (speaker, text) with speaker "caller"/"user"
# for the caller's lines and anything else for the agent's.
TranscriptEntry = Message | tuple[str, str]


class Precondition(BaseModel):
    """Conditions that must hold for a tool call to run."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    caller_said: list[Phrase] | None = Field(
        default=None, max_length=50, description="Words or phrases, one of which the caller said."
    )
    within_last_turns: int = Field(
        default=2, ge=1, le=50, description="Caller turns searched for caller_said."
    )
    min_caller_turns: int | None = Field(
        default=None, ge=1, le=1000, description="Caller turns needed before the tool may run."
    )


PreconditionSpec = Literal["caller_said_goodbye"] | Precondition


def expand(spec: PreconditionSpec | None) -> Precondition | None:
    """The object form of a precondition (the shorthand spelled out)."""
    if spec == "caller_said_goodbye":
        return Precondition(caller_said=list(GOODBYES))
    return spec if isinstance(spec, Precondition) else None


def caller_lines(transcript: Iterable[TranscriptEntry]) -> list[str]:
    """What the caller said, in order (tool results and the agent's lines left out)."""
    lines: list[str] = []
    for entry in transcript:
        if isinstance(entry, Message):
            if entry.role == "user" and entry.text.strip():
                lines.append(entry.text)
        elif entry[0] in ("caller", "user") and entry[1].strip():
            lines.append(entry[1])
    return lines


def violation(
    spec: PreconditionSpec | None, tool: str, transcript: Sequence[TranscriptEntry]
) -> str | None:
    """Why ``tool`` may not run now, or None when its precondition holds (or it has none)."""
    condition = expand(spec)
    if condition is None:
        return None
    lines = caller_lines(transcript)
    if condition.min_caller_turns is not None and len(lines) < condition.min_caller_turns:
        return (
            f"not run: {tool} needs at least {condition.min_caller_turns} caller turns first "
            f"(so far {len(lines)})"
        )
    if condition.caller_said is not None:
        recent = " ".join(lines[-condition.within_last_turns :]).lower()
        if not any(_contains(recent, phrase) for phrase in condition.caller_said):
            shown = ", ".join(repr(p) for p in condition.caller_said[:5])
            more = ", ..." if len(condition.caller_said) > 5 else ""
            return (
                f"not run: {tool} needs the caller to have said one of {shown}{more} in their "
                f"last {condition.within_last_turns} turns; ask whether they need anything else"
            )
    return None


def _contains(text: str, phrase: str) -> bool:
    words = r"\s+".join(re.escape(word) for word in phrase.lower().split())
    return re.search(rf"(?<![\w']){words}(?![\w'])", text) is not None
