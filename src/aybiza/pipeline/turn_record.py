"""The agent's side of a turn while it plays, and what is recorded once it settles."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aybiza.analytics import metrics
from aybiza.analytics.recording import TurnRecord
from aybiza.analytics.tracing import TurnTrace, untraced_turn
from aybiza.pipeline.answer import AgentAnswer
from aybiza.pipeline.plan import CallPlan
from aybiza.pipeline.playout import Utterance


@dataclass(slots=True)
class AgentTurn:
    """The agent's side of a turn (or the greeting) until what the caller heard is settled."""

    utterance: Utterance
    task: asyncio.Task[None] | None = None
    answer: AgentAnswer | None = None
    user_text: str = ""
    index: int = 0
    interrupted: bool = False
    superseded: bool = False
    # A speculative answer not (yet) used: held, never recorded as the call's turn.
    speculative: bool = False
    route: str | None = None
    language: str | None = None
    trace: TurnTrace = field(default_factory=untraced_turn)


def observe_timings(answer: AgentAnswer) -> None:
    """Feed the turn's latencies to the Prometheus histograms."""
    timings = answer.timings
    if timings.first_audio_sent is not None:
        metrics.VOICE_TO_VOICE.observe(timings.first_audio_sent - timings.speech_end)
    added = timings.platform_added()
    if added is not None:
        metrics.PLATFORM_ADDED.observe(added)
    if timings.llm_first_token is not None and timings.llm_request is not None:
        metrics.LLM_FIRST_TOKEN.observe(timings.llm_first_token - timings.llm_request)
    metrics.TURNS.inc()


def turn_record(turn: AgentTurn, answer: AgentAnswer, heard: str, plan: CallPlan) -> TurnRecord:
    """The persisted record of a settled turn: texts, timings, usage and what happened (the
    turn's language when the agent follows the caller's, or speaks other than its own)."""
    default_model = plan.model
    note_language = bool(turn.language) and (plan.detect_language or turn.language != plan.language)
    end = answer.end
    notes: dict[str, Any] = {}
    if answer.error:
        notes["error"] = answer.error
    if answer.filler_spoken:
        notes["filler"] = True
    if turn.superseded:
        notes["superseded"] = True
    if answer.tool_calls:
        notes["tool_calls"] = [
            {"name": c.name, "arguments": c.arguments} for c in answer.tool_calls
        ]
    if answer.tool_runs:
        notes["tool_runs"] = answer.tool_runs
    if turn.route:
        notes["route"] = turn.route
    if len(answer.attempts) > 1:
        notes["attempts"] = [{"model": a.model, "outcome": a.outcome} for a in answer.attempts]
    if turn.language and note_language:
        notes["language"] = turn.language
    usage: dict[str, Any] = {}
    if end is not None:
        usage = {
            "input_tokens": end.usage.input_tokens,
            "output_tokens": end.usage.output_tokens,
            "stop_reason": end.stop_reason,
        }
        if end.latency_ms is not None:
            usage["engine_latency_ms"] = end.latency_ms
    return TurnRecord(
        index=turn.index,
        user_text=turn.user_text,
        agent_text=answer.spoken_text,
        heard_text=heard,
        interrupted=turn.interrupted or turn.superseded,
        model=answer.model or default_model,
        timings_ms=answer.timings.as_ms(),
        usage=usage,
        notes=notes,
    )
