"""``/v1/calls``: a call with its transcript, turns and timings."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from aybiza.api.errors import error_response
from aybiza.security.admin_key import bearer_matches
from aybiza.store import repository

router = APIRouter(prefix="/v1")


@router.get("/calls/{call_sid}", response_model=None)
async def get_call(call_sid: str, request: Request) -> JSONResponse:
    """The call record: status, ended reason, engines, turns with timings, transcript."""
    if not bearer_matches(request.headers.get("authorization"), request.app.state.admin_key):
        return error_response(
            401,
            "unauthorized",
            "send Authorization: Bearer <key> (the key is in data/admin.key or AYBIZA_API_KEY)",
            "Authorization",
        )
    async with request.app.state.database.session() as session:
        record = await repository.call_record(session, call_sid)
    if record is None:
        return error_response(404, "not_found", f"no call with sid {call_sid}", "call_sid")
    call = record.call
    body: dict[str, Any] = {
        "id": call.id,
        "call_sid": call.call_sid,
        "stream_sid": call.stream_sid,
        "status": call.status,
        "ended_reason": call.ended_reason,
        "direction": call.direction,
        "from": call.from_number,
        "to": call.to_number,
        "agent": (
            {"id": record.agent.id, "name": record.agent.name, "version": call.agent_version}
            if record.agent
            else None
        ),
        "engines": call.engines,
        "stats": call.stats,
        "transfer_to": call.transfer_to,
        "started_at": call.started_at.isoformat() if call.started_at else None,
        "ended_at": call.ended_at.isoformat() if call.ended_at else None,
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
            }
            for turn in record.turns
        ],
        "transcript": [
            {"speaker": line.speaker, "text": line.text, "at": line.at.isoformat()}
            for line in record.transcript
        ],
    }
    return JSONResponse(body)
