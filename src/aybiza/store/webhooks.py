"""Webhook deliveries in the database: events become one row per subscribed endpoint, written
in the same transaction as the call data they describe, so none is lost or sent early."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.store.models import WebhookDelivery, WebhookEndpoint, new_id, utcnow

# Which endpoints a tenant has is read once per few seconds, not for every transcript line of
# every call: calls emit events far more often than tenants change their endpoints. Changes made
# through this process apply at once (``forget_subscriptions``); other workers see them within
# ``SUBSCRIPTION_TTL_S``.
SUBSCRIPTION_TTL_S = 5.0
_Subscriptions = tuple[tuple[str, frozenset[str]], ...]
_subscriptions: dict[str, tuple[float, _Subscriptions]] = {}


def forget_subscriptions(tenant_id: str) -> None:
    """The tenant's endpoints changed: read them again on the next event."""
    _subscriptions.pop(tenant_id, None)


async def _subscriptions_of(session: AsyncSession, tenant_id: str) -> _Subscriptions:
    now = time.monotonic()
    cached = _subscriptions.get(tenant_id)
    if cached is not None and cached[0] > now:
        return cached[1]
    rows = await session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.events).where(
            WebhookEndpoint.tenant_id == tenant_id, WebhookEndpoint.enabled.is_(True)
        )
    )
    subscriptions = tuple((row.id, frozenset(row.events)) for row in rows)
    _subscriptions[tenant_id] = (now + SUBSCRIPTION_TTL_S, subscriptions)
    return subscriptions


async def has_subscribers(session: AsyncSession, tenant_id: str, event: str) -> bool:
    """Whether any enabled endpoint of the tenant takes ``event`` (so a costly payload, like
    the full call report, is only built when someone will receive it)."""
    return any(event in events for _, events in await _subscriptions_of(session, tenant_id))


async def enqueue_event(
    session: AsyncSession,
    tenant_id: str,
    event: str,
    data: dict[str, Any],
    *,
    call_id: str | None = None,
) -> int:
    """Queue ``event`` for every enabled endpoint of the tenant subscribed to it; returns how
    many deliveries were queued. The body is fixed here, so every attempt sends the same bytes.
    ``call_id``: the call the event is about (erasing its caller deletes the deliveries)."""
    subscribed = [
        endpoint_id
        for endpoint_id, events in await _subscriptions_of(session, tenant_id)
        if event in events
    ]
    if not subscribed:
        return 0
    event_id = new_id()
    now = utcnow()
    body = json.dumps(
        {"id": event_id, "type": event, "created_at": now.isoformat(), "data": data},
        separators=(",", ":"),
        ensure_ascii=False,
    )
    for endpoint_id in subscribed:
        session.add(
            WebhookDelivery(
                tenant_id=tenant_id,
                endpoint_id=endpoint_id,
                event_id=event_id,
                event=event,
                body=body,
                call_id=call_id,
                next_attempt_at=now,
                created_at=now,
            )
        )
    return len(subscribed)


async def due_deliveries(session: AsyncSession, now: datetime, limit: int) -> Sequence[str]:
    """Ids of pending deliveries whose time has come and that no dispatcher holds."""
    rows = await session.execute(
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= now,
            (WebhookDelivery.locked_until.is_(None)) | (WebhookDelivery.locked_until < now),
        )
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
    )
    return list(rows.scalars())


async def claim(session: AsyncSession, delivery_id: str, now: datetime, lease: timedelta) -> bool:
    """Take the delivery for one attempt; False when another dispatcher got it first."""
    result = await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == "pending",
            (WebhookDelivery.locked_until.is_(None)) | (WebhookDelivery.locked_until < now),
        )
        .values(locked_until=now + lease)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def next_due_at(session: AsyncSession) -> datetime | None:
    """When the earliest pending delivery can next be claimed: its attempt time, or, while a
    dispatcher holds it (an attempt in flight, or one whose process died), the end of that
    lease. A held delivery counted as due at once would keep the other dispatchers polling
    the database without a pause until the lease ends."""
    claimable_at = case(
        (
            WebhookDelivery.locked_until > WebhookDelivery.next_attempt_at,
            WebhookDelivery.locked_until,
        ),
        else_=WebhookDelivery.next_attempt_at,
    )
    due_at: datetime | None = (
        await session.execute(
            select(func.min(claimable_at)).where(WebhookDelivery.status == "pending")
        )
    ).scalar_one_or_none()
    return due_at
