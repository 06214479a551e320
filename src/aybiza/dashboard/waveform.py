"""A recording's waveform for the call page: the WAV that ``GET /v1/calls/{id}/recording``
serves (the same ``Recordings`` service, permission and tenant rule), reduced to each
channel's peak per column and drawn as SVG."""

from __future__ import annotations

import io
import wave
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from markupsafe import Markup

from aybiza.dashboard.charts import waveform
from aybiza.dashboard.gate import PagePerson, page_for
from aybiza.dashboard.rendering import PAGE_CSP
from aybiza.errors import NotFound
from aybiza.security.permissions import Permission
from aybiza.services.call_records import CallRecords
from aybiza.services.recordings import Recordings

router = APIRouter(prefix="/calls", include_in_schema=False)
Listener = Annotated[PagePerson, Depends(page_for(Permission.RECORDINGS_READ))]
COLUMNS = 360
_WIDTHS: dict[int, str] = {1: "u1", 2: "<i2", 4: "<i4"}


def peaks(wav: bytes, columns: int = COLUMNS) -> list[tuple[float, float]]:
    """Per column, the peak of the first channel (the caller) and of the second (the agent;
    the first again for a mono file), each from 0 to 1. ``ValueError`` for a WAV this cannot
    read (not PCM, an odd sample width)."""
    try:
        with wave.open(io.BytesIO(wav)) as reader:
            channels, width = reader.getnchannels(), reader.getsampwidth()
            frames = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"not a PCM WAV file: {exc}") from exc
    dtype = _WIDTHS.get(width)
    if dtype is None:
        raise ValueError(f"{width * 8}-bit samples are not supported")
    usable = bytes(frames[: len(frames) - len(frames) % (width * channels)])
    samples = np.frombuffer(usable, dtype=np.dtype(dtype))
    values = samples.astype(np.float64)
    if width == 1:
        values -= 128.0
    full_scale = float(2 ** (8 * width - 1))
    values = np.abs(values.reshape(-1, channels)) / full_scale
    if channels == 1:
        values = np.repeat(values, 2, axis=1)
    if len(values) == 0:
        return []
    out: list[tuple[float, float]] = []
    for chunk in np.array_split(values[:, :2], min(columns, len(values))):
        top = chunk.max(axis=0)
        out.append((min(float(top[0]), 1.0), min(float(top[1]), 1.0)))
    return out


@router.get("/{call_id}/waveform.svg")
async def waveform_svg(request: Request, person: Listener, call_id: str) -> Response:
    """The recording's waveform (404 when the call has none), for roles holding
    ``recordings:read`` as ``GET /v1/calls/{id}/recording`` asks."""
    records: CallRecords = request.app.state.call_records
    recordings: Recordings = request.app.state.recordings
    try:
        call = await records.row(person.tenant_id, call_id)
    except NotFound:
        return Response("no such call", status_code=404, media_type="text/plain")
    audio = await recordings.audio_of(call)
    if audio is None:
        return Response("no recording", status_code=404, media_type="text/plain")
    try:
        drawn: Markup = waveform(peaks(audio), title="Recording waveform")
    except ValueError as exc:
        return Response(str(exc), status_code=422, media_type="text/plain")
    return Response(
        str(drawn),
        media_type="image/svg+xml",
        headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "private, no-store"},
    )
