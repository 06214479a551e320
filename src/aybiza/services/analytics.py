"""Analytics of a tenant's calls over a range: counts, durations and outcomes; latency
percentiles per stage; costs. Grouped by agent, number, hour or day, with the totals.

The API (``/v1/analytics``) and the dashboard's pages both ask this service, so a chart and the
API always show the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aybiza.analytics.aggregates import (
    GroupBy,
    Labels,
    call_groups,
    cost_groups,
    empty_buckets,
    label,
    latency_groups,
)
from aybiza.analytics.cost import PriceTable
from aybiza.errors import invalid
from aybiza.store.analytics_queries import (
    CallRange,
    calls_in_range,
    names_of,
    sentiments_of,
    turns_of,
)
from aybiza.store.database import Database
from aybiza.store.models import Call, Turn, utcnow
from aybiza.store.queries import is_row_id

# A range longer than this is refused: a quarter of hours is already 2,200 buckets.
MAX_RANGE = timedelta(days=92)
DEFAULT_RANGE = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Query:
    """What to aggregate: a range (default: the last day), a grouping, optional filters."""

    start: datetime | None = None
    end: datetime | None = None
    group_by: GroupBy | None = None
    agent_id: str | None = None
    phone_number_id: str | None = None


@dataclass(frozen=True, slots=True)
class _Rows:
    where: CallRange
    calls: list[Call]
    turns: dict[str, list[Turn]]
    sentiments: dict[str, str | None]
    labels: Labels
    now: datetime


Figures = Callable[[Sequence[Call], GroupBy | None, Sequence[str]], dict[str, dict[str, Any]]]


class Analytics:
    """Aggregates over the tenant's calls (every read scoped to the tenant)."""

    def __init__(self, database: Database, prices: PriceTable) -> None:
        self._database = database
        self._prices = prices

    async def calls(self, tenant_id: str, query: Query) -> dict[str, Any]:
        """Calls, ended and live calls, durations, outcomes, directions and sentiments."""
        rows = await self._rows(tenant_id, query)
        return _document(
            rows, query, lambda calls, by, keys: call_groups(calls, rows.sentiments, by, keys)
        )

    async def latency(self, tenant_id: str, query: Query) -> dict[str, Any]:
        """Turns and, per stage, count, mean, p50, p95 and p99 in milliseconds."""
        rows = await self._rows(tenant_id, query)
        return _document(
            rows, query, lambda calls, by, keys: latency_groups(calls, rows.turns, by, keys)
        )

    async def costs(self, tenant_id: str, query: Query) -> dict[str, Any]:
        """The cost breakdown, minutes and cost per minute."""
        rows = await self._rows(tenant_id, query)
        return _document(
            rows,
            query,
            lambda calls, by, keys: cost_groups(
                calls, rows.turns, self._prices, by, rows.now, keys
            ),
        )

    async def _rows(self, tenant_id: str, query: Query) -> _Rows:
        now = utcnow()
        where = checked_range(tenant_id, query, now)
        async with self._database.session() as session:
            calls = await calls_in_range(session, where)
            ids = [call.id for call in calls]
            turns = await turns_of(session, ids)
            sentiments = await sentiments_of(session, ids)
            agents, numbers = await names_of(session, tenant_id)
        return _Rows(where, calls, turns, sentiments, Labels(agents, numbers), now)


def checked_range(tenant_id: str, query: Query, now: datetime) -> CallRange:
    """The query's range and filters, or a 422 naming the field at fault."""
    end = query.end or now
    start = query.start or end - DEFAULT_RANGE
    if start >= end:
        raise invalid("start", "an instant before end", start.isoformat())
    if end - start > MAX_RANGE:
        raise invalid("end", f"at most {MAX_RANGE.days} days after start", end.isoformat())
    for name, value in (("agent_id", query.agent_id), ("phone_number_id", query.phone_number_id)):
        if value is not None and not is_row_id(value):
            raise invalid(name, "an id (32 hex digits)", value)
    return CallRange(tenant_id, start, end, query.agent_id, query.phone_number_id)


def _document(rows: _Rows, query: Query, figures: Figures) -> dict[str, Any]:
    by = query.group_by
    keys = empty_buckets(rows.where.start, rows.where.end, by) if by is not None else []
    groups: Mapping[str, dict[str, Any]] = figures(rows.calls, by, keys) if by is not None else {}
    return {
        "start": _iso(rows.where.start),
        "end": _iso(rows.where.end),
        "group_by": by.value if by is not None else None,
        "totals": figures(rows.calls, None, ["all"])["all"],
        "groups": [
            {"key": key, "label": label(key, by, rows.labels), **value}
            for key, value in groups.items()
            if by is not None
        ],
    }


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")
