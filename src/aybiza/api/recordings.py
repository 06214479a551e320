"""``GET /v1/calls/{id}/recording``: a call's recording, a stereo WAV (left the caller, right
what the caller heard of the agent), for keys and people holding ``recordings:read``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from aybiza.api.auth import require
from aybiza.api.errors import ApiError, error_responses
from aybiza.security.permissions import Permission
from aybiza.services.call_records import CallRecords
from aybiza.services.recordings import WAV, Recordings
from aybiza.services.tenants import Principal

router = APIRouter(prefix="/v1/calls", tags=["calls"])
Listener = Annotated[Principal, Depends(require(Permission.RECORDINGS_READ))]


@router.get(
    "/{call_ref}/recording",
    responses={
        200: {"content": {WAV: {}}, "description": "The recording (audio/wav)."},
        **error_responses(401, 403, 404),
    },
    response_class=Response,
)
async def get_recording(call_ref: str, request: Request, principal: Listener) -> Response:
    """The call's recording (16-bit PCM, 8 kHz, two channels)."""
    records: CallRecords = request.app.state.call_records
    recordings: Recordings = request.app.state.recordings
    call = await records.row(principal.tenant_id, call_ref)
    audio = await recordings.audio_of(call)
    if audio is None:
        raise ApiError(
            404,
            "recording_not_found",
            "this call has no recording: its agent does not record calls "
            "(recording.enabled), or the call has not ended yet",
            "id",
        )
    return Response(
        audio,
        media_type=WAV,
        headers={
            "Content-Disposition": f'inline; filename="{call.id}.wav"',
            "Cache-Control": "private, no-store",
            "Accept-Ranges": "none",
        },
    )
