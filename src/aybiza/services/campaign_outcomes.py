"""What an ended call means for a campaign contact, and what happens next.

Outcomes: ``answered`` (a person; the agent talked), ``voicemail`` (answering-machine detection
said ``machine``), ``fax``, ``busy``, ``no-answer``, ``failed`` (the carrier refused or failed
the call), and for contacts never dialled ``do-not-call``, ``outside-window`` (their zones'
windows never overlap) and ``canceled``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from aybiza.services.campaign_specs import RetryPolicy
from aybiza.store.models import Call

OUTCOMES = (
    "answered",
    "voicemail",
    "fax",
    "busy",
    "no-answer",
    "failed",
    "do-not-call",
    "outside-window",
    "canceled",
)
_BY_ENDED_REASON = {
    "busy": "busy",
    "no-answer": "no-answer",
    "failed": "failed",
    "canceled": "failed",
}


def call_outcome(call: Call) -> str:
    """The outcome of an ended call. ``answered_by`` (answering-machine detection: human,
    machine, fax, unknown) decides when present; else how the call ended."""
    answered_by = call.answered_by
    if answered_by == "machine":
        return "voicemail"
    if answered_by == "fax":
        return "fax"
    if call.started_at is not None:
        return "answered"
    reason = call.ended_reason or ""
    if reason in _BY_ENDED_REASON:
        return _BY_ENDED_REASON[reason]
    # Ended before the agent came on but not busy/unanswered: the callee picked up and hung up.
    return "answered" if reason in ("caller-hangup", "api-hangup") else "failed"


@dataclass(frozen=True, slots=True)
class NextStep:
    """After an attempt: ``retry_at`` when the contact is tried again, else it is done."""

    retry_at: datetime | None


def next_step(outcome: str, attempt: int, retry: RetryPolicy, now: datetime) -> NextStep:
    """Try again after the policy's backoff when the outcome is retried and attempts remain."""
    if outcome in retry.retry_on and attempt < retry.max_attempts:
        return NextStep(now + timedelta(seconds=retry.delay_s(attempt)))
    return NextStep(None)
