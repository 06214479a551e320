"""The call report: everything known about one call, as ``GET /v1/calls/{id}`` returns it and
the ``call.ended`` webhook carries it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.analytics.automation_records import (
    analysis_for_call,
    tool_calls_for_call,
    workflow_runs_for_call,
)
from aybiza.analytics.cost import PriceTable, call_cost, model_usage
from aybiza.analytics.row_json import iso, row_json
from aybiza.store.calls import turns_and_lines
from aybiza.store.models import Agent, Call, utcnow

SUMMARY_COLUMNS = (
    "id call_sid carrier status ended_reason answered_by direction from_number to_number "
    "phone_number_id agent_id "
    "agent_version agent_version_id created_at started_at ended_at"
)


async def call_report(
    session: AsyncSession, call: Call, prices: PriceTable, *, now: datetime | None = None
) -> dict[str, Any]:
    """The full report of ``call`` (turns with timings, transcript, usage, cost)."""
    now = now or utcnow()
    turns, lines = await turns_and_lines(session, call.id)
    agent = await session.get(Agent, call.agent_id) if call.agent_id else None
    end = call.ended_at or now
    return {
        "id": call.id,
        "call_sid": call.call_sid,
        "carrier": call.carrier,
        "stream_sid": call.stream_sid,
        "status": call.status,
        "ended_reason": call.ended_reason,
        "answered_by": call.answered_by,
        "direction": call.direction,
        "from": call.from_number,
        "to": call.to_number,
        "phone_number_id": call.phone_number_id,
        "agent": (
            {
                "id": agent.id,
                "name": agent.name,
                "version": call.agent_version,
                "version_id": call.agent_version_id,
            }
            if agent is not None
            else None
        ),
        "engines": call.engines or {},
        "stats": call.stats or {},
        "transfer_to": call.transfer_to,
        "custom_parameters": call.custom_parameters or {},
        "recording": recording_json(call),
        "created_at": iso(call.created_at),
        "started_at": iso(call.started_at),
        "ended_at": iso(call.ended_at),
        "duration_s": round(max((end - call.created_at).total_seconds(), 0.0), 3),
        "turns": [
            {
                "index": turn.index,
                "user_text": turn.user_text,
                "agent_text": turn.agent_text,
                "heard_text": turn.heard_text,
                "interrupted": turn.interrupted,
                "model": turn.model,
                "timings_ms": turn.timings_ms,
                "usage": turn.usage,
                "notes": turn.notes,
                "at": iso(turn.created_at),
            }
            for turn in turns
        ],
        "transcript": [
            {"seq": line.seq, "speaker": line.speaker, "text": line.text, "at": iso(line.at)}
            for line in lines
        ],
        "usage": model_usage(turns),
        "cost": call_cost(call, turns, prices, now=now),
        "tool_calls": await tool_calls_for_call(session, call.id),
        "analysis": await analysis_for_call(session, call.id),
        "workflow_runs": await workflow_runs_for_call(session, call.id),
    }


def call_summary(call: Call) -> dict[str, Any]:
    """The short form of a call used in lists and the ``call.started`` event."""
    return row_json(call, SUMMARY_COLUMNS, {"from_number": "from", "to_number": "to"})


def recording_json(call: Call) -> dict[str, Any] | None:
    """The call's recording as the API shows it (None while it has none): where to fetch it,
    its length and its channels (left the caller, right the agent)."""
    stored = call.recording
    if not stored:
        return None
    return {
        "url": f"/v1/calls/{call.id}/recording",
        "duration_s": stored.get("duration_s"),
        "channels": stored.get("channels", 2),
        "left": "caller",
        "right": "agent",
        "format": "audio/wav",
        "sample_rate_hz": stored.get("sample_rate_hz", 8000),
        "bytes": stored.get("bytes"),
        "sealed": bool(stored.get("sealed", False)),
    }
