"""What the call loop reports as it happens; ``aybiza.analytics`` persists it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Speaker = Literal["caller", "agent"]


@dataclass(slots=True)
class TurnRecord:
    index: int
    user_text: str
    agent_text: str
    heard_text: str
    interrupted: bool
    model: str | None
    timings_ms: dict[str, float | None]
    usage: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)


class CallRecorder(Protocol):
    def transcript(self, speaker: Speaker, text: str) -> None:
        """A caller line once final, an agent line once heard."""

    def turn(self, record: TurnRecord) -> None:
        """A finished (or interrupted) turn with its timings."""

    def ended(self, reason: str, stats: dict[str, Any], transfer_to: str | None) -> None:
        """The call is over."""
