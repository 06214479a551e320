"""``/``: today at a glance (UTC day): live calls now (as ``GET /v1/tenant`` counts them),
calls today, voice-to-voice p50/p95, cost, outcomes and calls per hour (the analytics service
behind ``/v1/analytics``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from aybiza.analytics.aggregates import GroupBy
from aybiza.dashboard.charts import bars
from aybiza.dashboard.gate import Reader, page
from aybiza.services.analytics import Analytics, Query
from aybiza.services.tenants import TenantService
from aybiza.store.models import utcnow

router = APIRouter(include_in_schema=False)


@router.get("/")
async def overview(request: Request, person: Reader) -> HTMLResponse:
    """The overview page."""
    analytics: Analytics = request.app.state.analytics
    now = utcnow()
    today = Query(now.replace(hour=0, minute=0, second=0, microsecond=0), now, GroupBy.HOUR)
    calls = await analytics.calls(person.tenant_id, today)
    latency = await analytics.latency(person.tenant_id, today)
    costs = await analytics.costs(person.tenant_id, today)
    tenants: TenantService = request.app.state.tenants
    _tenant, live_now = await tenants.tenant(person.tenant_id)
    per_hour = [(g["key"], float(g["calls"])) for g in calls["groups"]]
    return page(
        request,
        "overview.html",
        person,
        calls=calls["totals"],
        live_now=live_now,
        v2v=latency["totals"]["stages"]["voice_to_voice"],
        cost=costs["totals"],
        chart=bars(per_hour, title="Calls per hour today (UTC)"),
    )
