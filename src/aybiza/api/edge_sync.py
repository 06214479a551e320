"""``/edge/keys`` and ``/edge/numbers``: the tables the edge workers replicate (docs/edge.md).

Only the edge may read them: ``Authorization: Bearer <AYBIZA_EDGE_SECRET>``. Without the
setting the routes answer 404, as if they did not exist. Each answer carries an ``ETag``; a
pull that sends it back in ``If-None-Match`` gets 304 while nothing changed.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from aybiza.api.errors import ApiError
from aybiza.config import Settings
from aybiza.services.edge_replica import EdgeReplica, Snapshot

router = APIRouter(prefix="/edge", include_in_schema=False)


def edge_caller(request: Request) -> EdgeReplica:
    """The replica builder, once the request proved it comes from the edge."""
    settings: Settings = request.app.state.settings
    if not settings.edge_secret:
        raise ApiError(404, "not_found", "edge replication is off (AYBIZA_EDGE_SECRET unset)")
    given = request.headers.get("authorization", "")
    expected = f"Bearer {settings.edge_secret}"
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(
            401,
            "unauthorized",
            "send the edge secret as Authorization: Bearer <AYBIZA_EDGE_SECRET>",
            "Authorization",
        )
    replica: EdgeReplica = request.app.state.edge_replica
    return replica


Replica = Annotated[EdgeReplica, Depends(edge_caller)]


def _answer(request: Request, snapshot: Snapshot) -> Response:
    headers = {"etag": snapshot.etag, "cache-control": "no-store"}
    if request.headers.get("if-none-match") == snapshot.etag:
        return Response(status_code=304, headers=headers)
    return Response(snapshot.body, media_type="application/json", headers=headers)


@router.get("/keys")
async def edge_keys(
    request: Request,
    replica: Replica,
    prefix: Annotated[str, Query(max_length=8)] = "",
) -> Response:
    """Active keys (hash, key id, tenant id, scopes) whose hash starts with ``prefix``."""
    return _answer(request, await replica.keys(prefix))


@router.get("/numbers")
async def edge_numbers(request: Request, replica: Replica) -> Response:
    """Every number (E.164) with its ``region`` and ``fallback_region``."""
    return _answer(request, await replica.numbers())
