"""``/healthz``, ``/readyz`` and ``/metrics``: whether the process is up, whether it takes
calls (and the load the edge weighs regions by), and its Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from aybiza.config import Settings
from aybiza.services.drain import Drain
from aybiza.services.live_calls import LiveCalls
from aybiza.store.database import Database

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(request: Request) -> JSONResponse:
    """The process has opened its database and engines, is not draining, and the database
    is reachable (503 naming it while it is not: docs/operations.md, "Database outage")."""
    state = request.app.state
    ready = bool(getattr(state, "ready", False))
    drain: Drain | None = getattr(state, "drain", None)
    if drain is not None and drain.draining:
        draining = {"ready": False, "draining": True, **_placement(state)}
        return JSONResponse(draining, status_code=503)
    body: dict[str, object] = {"ready": ready, **_placement(state)}
    database: Database | None = getattr(state, "database", None)
    if database is not None:
        body["database"] = database.health.status()
        if not database.health.reachable:
            body["ready"], body["unavailable"] = False, ["database"]
    return JSONResponse(body, status_code=200 if body["ready"] else 503)


@router.get("/metrics")
async def prometheus_metrics() -> Response:
    """Prometheus text format."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _placement(state: Any) -> dict[str, object]:
    """The region and the load figure the edge's voice-router weighs regions by: the live
    calls of this process over ``AYBIZA_CAPACITY_CALLS`` (docs/edge.md)."""
    settings: Settings | None = getattr(state, "settings", None)
    live: LiveCalls | None = getattr(state, "live", None)
    if settings is None:
        return {}
    calls = len(live) if live is not None else 0
    load = {
        "live_calls": calls,
        "capacity": settings.capacity_calls,
        "ratio": round(calls / settings.capacity_calls, 4),
    }
    return {"region": settings.region, "load": load}
