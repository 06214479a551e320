"""``/analytics``: per agent or number over a chosen range: calls per hour (or day), durations,
latency percentiles per stage, outcomes, sentiment and cost per minute; CSV export links to
``/v1/analytics`` with the same query. Figures come from the service behind that API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from aybiza.analytics.aggregates import STAGES, GroupBy
from aybiza.dashboard.charts import bars
from aybiza.dashboard.gate import Reader, page
from aybiza.errors import Invalid
from aybiza.services.analytics import Analytics
from aybiza.services.analytics import Query as Range
from aybiza.store.models import utcnow

router = APIRouter(prefix="/analytics", include_in_schema=False)

Field = Annotated[str, Query(max_length=64)]
_FORM_TIME = "%Y-%m-%dT%H:%M"


def _instant(value: str) -> datetime | None:
    """A ``datetime-local`` field's value (taken as UTC), None when empty or malformed."""
    try:
        return datetime.strptime(value, _FORM_TIME).replace(tzinfo=UTC) if value else None
    except ValueError:
        return None


@router.get("")
async def analytics_page(
    request: Request,
    person: Reader,
    start: Field = "",
    end: Field = "",
    agent_id: Field = "",
    phone_number_id: Field = "",
    per: Field = "hour",
) -> HTMLResponse:
    """The analytics page for the range and filters in the query."""
    service: Analytics = request.app.state.analytics
    now = utcnow()
    until = _instant(end) or now
    since = _instant(start) or until - timedelta(days=1)
    bucket = GroupBy.DAY if per == "day" else GroupBy.HOUR
    filters = {"agent_id": agent_id or None, "phone_number_id": phone_number_id or None}
    error = ""
    try:
        over_time = await service.calls(person.tenant_id, Range(since, until, bucket, **filters))
        by_agent = await service.calls(
            person.tenant_id, Range(since, until, GroupBy.AGENT, **filters)
        )
        by_number = await service.calls(
            person.tenant_id, Range(since, until, GroupBy.NUMBER, **filters)
        )
        latency = await service.latency(
            person.tenant_id, Range(since, until, GroupBy.AGENT, **filters)
        )
        costs = await service.costs(person.tenant_id, Range(since, until, GroupBy.AGENT, **filters))
    except Invalid as exc:
        error = f"{exc.field}: {exc.message}" if exc.field else exc.message
        over_time = by_agent = by_number = latency = costs = {}
    query = {
        "start": since.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end": until.strftime("%Y-%m-%dT%H:%M:%SZ"),
        **{k: v for k, v in filters.items() if v},
    }
    points = [(g["key"], float(g["calls"])) for g in over_time.get("groups", [])]
    return page(
        request,
        "analytics.html",
        person,
        status_code=422 if error else 200,
        error=error,
        start=since.strftime(_FORM_TIME),
        end=until.strftime(_FORM_TIME),
        agent_id=agent_id,
        phone_number_id=phone_number_id,
        per=bucket.value,
        chart=bars(points, title=f"Calls per {bucket.value}") if points else "",
        calls=over_time.get("totals"),
        by_agent=by_agent.get("groups", []),
        by_number=by_number.get("groups", []),
        latency=latency,
        stages=list(STAGES),
        costs=costs,
        csv={
            kind: f"/v1/analytics/{kind}?"
            + urlencode({**query, "group_by": "agent", "format": "csv"})
            for kind in ("calls", "latency", "costs")
        },
    )
