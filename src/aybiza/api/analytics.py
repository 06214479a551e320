"""``/v1/analytics``: the figures behind the dashboard's charts, over a range of the tenant's
calls, grouped by agent, number, hour or day; as JSON, or CSV (``format=csv``, one row per
group) for a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from aybiza.analytics.aggregates import GroupBy
from aybiza.api.auth import require
from aybiza.api.calls import Instant
from aybiza.api.errors import error_responses
from aybiza.security.permissions import Permission
from aybiza.services import analytics as analytics_service
from aybiza.services.tenants import Principal

router = APIRouter(prefix="/v1/analytics", tags=["analytics"])

Reader = Annotated[Principal, Depends(require(Permission.CALLS_READ))]
Id = Annotated[str | None, Query(pattern=r"^[^\x00-\x1f\x7f]{1,64}$")]
Format = Literal["json", "csv"]


def service(request: Request) -> analytics_service.Analytics:
    """The process's analytics service."""
    found: analytics_service.Analytics = request.app.state.analytics
    return found


def _query(
    start: Instant = None,
    end: Instant = None,
    group_by: GroupBy | None = None,
    agent_id: Id = None,
    phone_number_id: Id = None,
) -> analytics_service.Query:
    return analytics_service.Query(start, end, group_by, agent_id, phone_number_id)


Range = Annotated[analytics_service.Query, Depends(_query)]
Kind = Callable[[analytics_service.Analytics], Callable[..., Awaitable[dict[str, Any]]]]
_RESPONSES = error_responses(401, 403, 422)
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


async def _answer(
    request: Request, principal: Principal, query: analytics_service.Query, kind: str, fmt: Format
) -> Response:
    method = getattr(service(request), kind)
    document: dict[str, Any] = await method(principal.tenant_id, query)
    if fmt == "csv":
        return Response(
            to_csv(document),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="aybiza-{kind}.csv"'},
        )
    return JSONResponse(document)


@router.get("/calls", responses=_RESPONSES)
async def call_figures(
    request: Request, principal: Reader, query: Range, format: Format = "json"
) -> Response:
    """Calls, ended and live, durations (total, mean, p50/p95/p99 in seconds), outcomes (ended
    reasons), directions and post-call sentiments: in total and per group."""
    return await _answer(request, principal, query, "calls", format)


@router.get("/latency", responses=_RESPONSES)
async def latency_figures(
    request: Request, principal: Reader, query: Range, format: Format = "json"
) -> Response:
    """Per stage of a turn (``stt``, ``llm_first_token``, ``tts_first_audio``,
    ``platform_added``, ``voice_to_voice``): count, mean, p50, p95 and p99 in milliseconds
    (nearest-rank percentiles)."""
    return await _answer(request, principal, query, "latency", format)


@router.get("/costs", responses=_RESPONSES)
async def cost_figures(
    request: Request, principal: Reader, query: Range, format: Format = "json"
) -> Response:
    """What the calls cost by telephony, STT, LLM and TTS, their minutes and the cost per
    minute (calls still going count what they cost so far)."""
    return await _answer(request, principal, query, "costs", format)


def flatten(prefix: str, value: Any, into: dict[str, Any]) -> None:
    """Nested figures as ``a.b.c`` columns."""
    if isinstance(value, dict):
        for key, inner in value.items():
            flatten(f"{prefix}.{key}" if prefix else str(key), inner, into)
    elif isinstance(value, str) and value[:1] in _FORMULA:
        # A spreadsheet would run a cell starting like a formula (an agent named "=cmd|...").
        into[prefix] = "'" + value
    else:
        into[prefix] = value


def to_csv(document: dict[str, Any]) -> str:
    """One row per group (or the totals alone when ungrouped)."""
    rows: list[dict[str, Any]] = []
    for group in document["groups"] or [{"key": "all", "label": "all", **document["totals"]}]:
        row: dict[str, Any] = {}
        flatten("", group, row)
        rows.append(row)
    columns: list[str] = []
    for row in rows:
        columns.extend(c for c in row if c not in columns)
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, restval="")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
