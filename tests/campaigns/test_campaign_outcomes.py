"""What an ended call means for a contact (answering-machine detection's ``answered_by`` first),
when it is tried again, and the contact's variables filled into the agent's prompt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aybiza.services.call_plan import with_parameters
from aybiza.services.campaign_outcomes import call_outcome, next_step
from aybiza.services.campaign_specs import RetryPolicy
from aybiza.store.models import Call

NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)


def _ended(reason: str, *, started: bool = False, answered_by: str | None = None) -> Call:
    call = Call(call_sid="CA1", from_number="+15550001", to_number="+15550002", direction="x")
    call.ended_reason, call.ended_at = reason, NOW
    call.started_at = NOW - timedelta(seconds=30) if started else None
    call.answered_by = answered_by
    return call


def test_machine_answers_are_voicemail_and_the_carrier_s_endings_keep_their_names() -> None:
    assert call_outcome(_ended("agent-ended", started=True, answered_by="machine")) == "voicemail"
    assert call_outcome(_ended("caller-hangup", answered_by="fax")) == "fax"
    assert call_outcome(_ended("agent-ended", started=True, answered_by="human")) == "answered"
    assert call_outcome(_ended("agent-ended", started=True)) == "answered"
    assert call_outcome(_ended("busy")) == "busy"
    assert call_outcome(_ended("no-answer")) == "no-answer"
    assert call_outcome(_ended("canceled")) == "failed"
    assert call_outcome(_ended("caller-hangup")) == "answered"


def test_retries_follow_the_policy_s_outcomes_backoff_and_attempt_limit() -> None:
    policy = RetryPolicy(max_attempts=3, backoff_s=600, multiplier=2)
    assert next_step("voicemail", 1, policy, NOW).retry_at == NOW + timedelta(seconds=600)
    assert next_step("busy", 2, policy, NOW).retry_at == NOW + timedelta(seconds=1200)
    assert next_step("busy", 3, policy, NOW).retry_at is None
    assert next_step("answered", 1, policy, NOW).retry_at is None
    assert next_step("failed", 1, policy, NOW).retry_at is None
    assert next_step("failed", 1, RetryPolicy(retry_on=["failed"]), NOW).retry_at is not None


def test_contact_variables_fill_the_prompt_s_placeholders_and_are_listed() -> None:
    prompt = with_parameters(
        "Call {{first_name}} about {{ topic }}; {{unknown}} stays.",
        {"first_name": "Ann", "topic": "the renewal"},
    )
    assert prompt.startswith("Call Ann about the renewal; {{unknown}} stays.")
    assert "- first_name: Ann" in prompt
    assert with_parameters("No {{name}} given.", {}) == "No {{name}} given."
