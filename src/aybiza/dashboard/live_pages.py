"""``/live``: the tenant's live calls, each with its transcript and per-turn latency, updated
as they happen over Server-Sent Events (``/live/events``); hang up from the page. The stream
reads through ``CallRecords`` like the API, and stops when the session ends."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from aybiza.api.auth import SESSION_COOKIE, access
from aybiza.dashboard.call_pages import records, shown_report
from aybiza.dashboard.gate import PagePerson, Reader, page
from aybiza.errors import NotFound
from aybiza.store.calls import CallFilter

router = APIRouter(prefix="/live", include_in_schema=False)

LIVE = ("ringing", "in-progress")
POLL_S = 1.0
# The stream ends after this long; the browser's EventSource reconnects (and re-authenticates).
STREAM_S = 300.0
MAX_CALLS = 50


def _turn(turn: dict[str, Any]) -> dict[str, Any]:
    timings = turn.get("timings_ms") or {}
    return {
        "index": turn["index"],
        "user_text": turn["user_text"],
        "agent_text": turn["agent_text"],
        "voice_to_voice_ms": timings.get("first_audio_sent"),
        "platform_added_ms": timings.get("platform_added"),
    }


async def live_calls(request: Request, person: PagePerson) -> list[dict[str, Any]]:
    """The tenant's live calls as the page shows them, newest first."""
    service = records(request)
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for status in LIVE:
        found = await service.list(
            person.tenant_id, CallFilter(status=status), cursor=None, limit=MAX_CALLS
        )
        for call in found.items:
            # A call that went from ringing to in-progress between the two reads is shown once.
            if call.ended_at is not None or call.id in seen:
                continue
            seen.add(call.id)
            try:
                report = await shown_report(request, person, call.id)
            except NotFound:
                continue
            out.append(
                {
                    "id": report["id"],
                    "from": report["from"],
                    "to": report["to"],
                    "status": report["status"],
                    "carrier": report["carrier"],
                    "agent": (report.get("agent") or {}).get("name"),
                    "started_at": report["created_at"],
                    "transcript": [
                        {"speaker": line["speaker"], "text": line["text"], "at": line["at"]}
                        for line in report["transcript"]
                    ],
                    "turns": [_turn(turn) for turn in report["turns"]],
                }
            )
    return out


@router.get("")
async def live_page(request: Request, person: Reader) -> HTMLResponse:
    """The live calls page (its script follows ``/live/events``)."""
    calls = await live_calls(request, person)
    return page(request, "live.html", person, calls=calls)


@router.get("/events")
async def live_events(request: Request, person: Reader) -> StreamingResponse:
    """``event: calls`` with the live calls as JSON whenever they change (and at the start)."""
    token = request.cookies.get(SESSION_COOKIE, "")

    async def stream() -> AsyncIterator[str]:
        last = None
        loop = asyncio.get_running_loop()
        until = loop.time() + STREAM_S
        yield "retry: 2000\n\n"
        while loop.time() < until and not await request.is_disconnected():
            if await access(request).sessions.authenticate(token) is None:
                yield "event: signed-out\ndata: {}\n\n"
                return
            document = json.dumps(await live_calls(request, person), separators=(",", ":"))
            if document != last:
                last = document
                yield f"event: calls\ndata: {document}\n\n"
            await asyncio.sleep(POLL_S)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
