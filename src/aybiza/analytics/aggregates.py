"""Aggregates over a tenant's calls and turns: counts, durations, outcomes, latency percentiles
per stage and costs, grouped by agent, number, hour or day.

Pure functions over rows the store returns, so SQLite, PostgreSQL and TimescaleDB give the same
numbers: percentiles are nearest-rank (the value at rank ``ceil(q/100 * n)``, never an
interpolation a database might do differently), time buckets are UTC.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from aybiza.analytics.cost import PriceTable, call_cost
from aybiza.store.models import Call, Turn


class GroupBy(StrEnum):
    """How rows are grouped."""

    AGENT = "agent"
    NUMBER = "number"
    HOUR = "hour"
    DAY = "day"


BUCKETS = {GroupBy.HOUR: timedelta(hours=1), GroupBy.DAY: timedelta(days=1)}
PERCENTILES = (50, 95, 99)
NONE_KEY = "none"


def _span(start: str, end: str) -> Callable[[Mapping[str, Any]], float | None]:
    def measure(timings: Mapping[str, Any]) -> float | None:
        a, b = _number(timings.get(start)), _number(timings.get(end))
        return None if a is None or b is None else round(b - a, 2)

    return measure


def _at(name: str) -> Callable[[Mapping[str, Any]], float | None]:
    return lambda timings: _number(timings.get(name))


# Each stage of a turn in ms (``aybiza.pipeline.timings``): recognition (speech end to final),
# the model (request to first token), synthesis (request to first audio), the platform's own
# share, and the whole voice-to-voice time (speech end to the first audio sent).
STAGES: dict[str, Callable[[Mapping[str, Any]], float | None]] = {
    "stt": _at("stt_final"),
    "llm_first_token": _span("llm_request", "llm_first_token"),
    "tts_first_audio": _span("tts_request", "tts_first_audio"),
    "platform_added": _at("platform_added"),
    "voice_to_voice": _at("first_audio_sent"),
}


@dataclass(frozen=True, slots=True)
class Labels:
    """Names to show for group keys: agents' names and numbers' E.164."""

    agents: Mapping[str, str] = field(default_factory=dict)
    numbers: Mapping[str, str] = field(default_factory=dict)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q``-th percentile of ``values`` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(math.ceil(q / 100 * len(ordered)), 1)
    return round(ordered[rank - 1], 2)


def spread(values: Sequence[float]) -> dict[str, float | int | None]:
    """Count, mean and the p50/p95/p99 of ``values``."""
    out: dict[str, float | int | None] = {
        "count": len(values),
        "avg": round(sum(values) / len(values), 2) if values else None,
    }
    for q in PERCENTILES:
        out[f"p{q}"] = percentile(values, q)
    return out


def bucket_start(at: datetime, by: GroupBy) -> datetime:
    """The start of the hour or (UTC) day holding ``at``."""
    if by is GroupBy.HOUR:
        return at.replace(minute=0, second=0, microsecond=0)
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


def group_key(call: Call, by: GroupBy) -> str:
    """The group a call falls in."""
    if by is GroupBy.AGENT:
        return call.agent_id or NONE_KEY
    if by is GroupBy.NUMBER:
        return call.phone_number_id or NONE_KEY
    return _iso(bucket_start(call.created_at, by))


def empty_buckets(start: datetime, end: datetime, by: GroupBy) -> list[str]:
    """Every hour or day bucket of ``[start, end)``, so a chart shows the quiet ones too."""
    step = BUCKETS.get(by)
    if step is None:
        return []
    keys, at = [], bucket_start(start, by)
    while at < end:
        keys.append(_iso(at))
        at += step
    return keys


def label(key: str, by: GroupBy, labels: Labels) -> str:
    """What a chart or table calls the group ``key``."""
    if by is GroupBy.AGENT:
        return labels.agents.get(key, "(no agent)" if key == NONE_KEY else key)
    if by is GroupBy.NUMBER:
        return labels.numbers.get(key, "(no number)" if key == NONE_KEY else key)
    return key


def duration_s(call: Call) -> float | None:
    """How long an ended call lasted (from the answer to the end), None while it goes on."""
    if call.ended_at is None:
        return None
    return max((call.ended_at - call.created_at).total_seconds(), 0.0)


def call_groups(
    calls: Iterable[Call],
    sentiments: Mapping[str, str | None],
    by: GroupBy | None,
    keys: Sequence[str] = (),
) -> dict[str, dict[str, Any]]:
    """Per group: calls, ended and live calls, durations, outcomes (ended reasons),
    directions and post-call sentiments."""
    grouped = _grouped(calls, by, keys)
    return {key: _call_figures(rows, sentiments) for key, rows in grouped.items()}


def _call_figures(rows: Sequence[Call], sentiments: Mapping[str, str | None]) -> dict[str, Any]:
    durations = [d for d in (duration_s(c) for c in rows) if d is not None]
    outcomes: dict[str, int] = {}
    directions: dict[str, int] = {}
    feelings: dict[str, int] = {}
    for call in rows:
        if call.ended_at is not None:
            reason = call.ended_reason or "unknown"
            outcomes[reason] = outcomes.get(reason, 0) + 1
        directions[call.direction] = directions.get(call.direction, 0) + 1
        if call.id in sentiments:
            feeling = sentiments[call.id] or "unknown"
            feelings[feeling] = feelings.get(feeling, 0) + 1
    return {
        "calls": len(rows),
        "ended": len(durations),
        "live": len(rows) - len(durations),
        "duration_s": {
            "total": round(sum(durations), 3),
            **spread(durations),
        },
        "outcomes": dict(sorted(outcomes.items())),
        "directions": dict(sorted(directions.items())),
        "sentiment": dict(sorted(feelings.items())),
    }


def latency_groups(
    calls: Iterable[Call],
    turns: Mapping[str, Sequence[Turn]],
    by: GroupBy | None,
    keys: Sequence[str] = (),
) -> dict[str, dict[str, Any]]:
    """Per group: the number of turns and, per stage, count, mean and p50/p95/p99 in ms."""
    out: dict[str, dict[str, Any]] = {}
    for key, rows in _grouped(calls, by, keys).items():
        timings = [t.timings_ms or {} for call in rows for t in turns.get(call.id, ())]
        stages = {}
        for stage, measure in STAGES.items():
            values = [v for v in (measure(t) for t in timings) if v is not None]
            stages[stage] = spread(values)
        out[key] = {"turns": len(timings), "stages": stages}
    return out


def cost_groups(
    calls: Iterable[Call],
    turns: Mapping[str, Sequence[Turn]],
    prices: PriceTable,
    by: GroupBy | None,
    now: datetime,
    keys: Sequence[str] = (),
) -> dict[str, dict[str, Any]]:
    """Per group: the summed cost breakdown of its calls, their billed minutes and the cost
    per minute (calls still going count what they cost so far)."""
    out: dict[str, dict[str, Any]] = {}
    for key, rows in _grouped(calls, by, keys).items():
        parts = {"telephony": 0.0, "stt": 0.0, "llm": 0.0, "tts": 0.0, "total": 0.0}
        minutes = 0.0
        for call in rows:
            cost = call_cost(call, turns.get(call.id, ()), prices, now=now)
            for name in parts:
                parts[name] += float(cost[name])
            minutes += max(((call.ended_at or now) - call.created_at).total_seconds(), 0) / 60
        out[key] = {
            "calls": len(rows),
            "currency": prices.currency,
            **{name: round(value, 6) for name, value in parts.items()},
            "minutes": round(minutes, 4),
            "per_minute": round(parts["total"] / minutes, 6) if minutes > 0 else None,
        }
    return out


def _grouped(
    calls: Iterable[Call], by: GroupBy | None, keys: Sequence[str]
) -> dict[str, list[Call]]:
    """Calls by group key (``by`` None: one group ``all``, the totals)."""
    grouped: dict[str, list[Call]] = {key: [] for key in keys}
    for call in calls:
        key = "all" if by is None else group_key(call, by)
        grouped.setdefault(key, []).append(call)
    return grouped


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")
