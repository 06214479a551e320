"""Build FastAPI's per-route state before the server is ready.

FastAPI 0.165 builds an included router's routes (each endpoint's dependency tree, its
parameter and body models: pydantic schemas, ``inspect.signature``) the first time a request
is matched against that router, on the event loop. The first request to the agents router
(``POST /v1/agents``, which the bench sends first) stalled the loop 1.26 s on a loaded core,
and the first incoming call and the first media stream paid the same for their routers. Done
at start-up instead, with everything else ``warm_engines`` loads, before ``/readyz`` says
ready (and before the heap is frozen, so the built state is frozen with it).
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI

log = structlog.get_logger(__name__)


def warm_routes(app: FastAPI) -> int:
    """Build the route state of every included router of ``app`` now; returns how many
    routers were built (0 when this FastAPI builds its routes eagerly)."""
    pending: list[Any] = list(app.router.routes)
    built = 0
    while pending:
        route = pending.pop()
        candidates = getattr(route, "effective_candidates", None)
        if candidates is None:
            continue
        built += 1
        pending.extend(candidates())
        low_priority = getattr(route, "effective_low_priority_routes", None)
        if low_priority is not None:
            low_priority()
    return built
