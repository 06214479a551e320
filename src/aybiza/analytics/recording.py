"""What the call loop reports as it happens; ``aybiza.analytics`` persists it."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal, Protocol

Speaker = Literal["caller", "agent"]
# A call's status as the API shows it.
CallStatus = Literal["queued", "ringing", "in-progress", "completed"]
# Why a call ended. Carriers' own reasons (a SIP status, a refusal) are recorded as given.
EndedReason = Literal[
    "caller-hangup",
    "agent-ended",
    "transferred",
    "api-hangup",
    "max-duration",
    "stt-failed",
    "stream-closed",
    "stream-failed",
    "server-lost",
    "server-shutdown",
    "busy",
    "no-answer",
    "failed",
    "canceled",
    "unknown-number",
    "concurrency-limit",
    "no-agent-version",
    "voicemail",
    "machine-detected",
]


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


@dataclass(slots=True)
class CallStats:
    """What one call's loop counted, stored on the call (``stats``) when it ends."""

    frames_in: int = 0
    barge_ins: int = 0
    fillers: int = 0
    turns: int = 0
    duration_s: float | None = None
    # Messages sent to the recogniser (caller audio is batched while the caller is quiet).
    stt_messages: int | None = None
    greeting_latency_ms: float | None = None
    stt_error: str | None = None
    # The recogniser that ran when it was not the agent's own, and why (``stt_fallback``).
    stt_ran: str | None = None
    stt_fallback: str | None = None
    # A warm transfer's summary, read to the person who answers.
    transfer_summary: str | None = None
    malformed_messages: int | None = None
    # Carrier protocol problems the operator should see (a second start, a second stream).
    protocol_warnings: list[str] = field(default_factory=list)
    # What the carrier said when the call ended, e.g. a SIP BYE's Reason or a final status.
    carrier_response: str | None = None
    # SIP/RTP: packets received, lost and late, and interarrival jitter, at the end.
    media: dict[str, float] | None = None
    # PCI mode: [from, to] seconds into the call while a tool collected keyed-in digits (a
    # card number); a recorder of the call's audio leaves these spans out.
    recording_paused_s: list[list[float]] = field(default_factory=list)
    # Outbound calls screened for answering machines: human, machine, fax or unknown, and
    # how it was decided (by, reason, at_ms, message_end).
    answered_by: str | None = None
    machine_detection: dict[str, object] | None = None
    # Speculative answers (``pipeline.speculation``): started, used, discarded, and what the
    # discarded ones used (``by_model`` tokens, ``tts_characters``), priced as ``speculative``.
    speculative: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON for the call row: unset values and empty lists left out."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {name: value for name, value in values.items() if value not in (None, [])}


class CallRecorder(Protocol):
    def transcript(self, speaker: Speaker, text: str) -> None:
        """A caller line once final, an agent line once heard."""

    def turn(self, record: TurnRecord) -> None:
        """A finished (or interrupted) turn with its timings."""

    def ended(self, reason: str, stats: CallStats, transfer_to: str | None) -> None:
        """The call is over."""
