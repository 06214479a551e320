"""``/static/dashboard.css`` and ``/static/dashboard.js``: the pages' only stylesheet and
script (no build step, no framework, nothing from another site)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from aybiza.dashboard.rendering import STATIC

router = APIRouter(prefix="/static", include_in_schema=False)
_TYPES = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}


@router.get("/{name}")
async def static_file(name: str) -> Response:
    """One of the dashboard's static files (404 for any other name)."""
    media_type = _TYPES.get(name)
    if media_type is None:
        return Response("not found", status_code=404, media_type="text/plain")
    return Response(
        (STATIC / name).read_text("utf-8"),
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=300"},
    )
