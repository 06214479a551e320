"""Delivers queued webhook events: signed POSTs, retried with exponential backoff.

One dispatcher runs per server process. Deliveries live in the database, so retries survive a
restart and any process may deliver any event; a short lease (``locked_until``) makes sure only
one process attempts a delivery at a time. A 2xx answer delivers; anything else (or no answer)
is retried after ``backoff_s * 2**(attempt-1)`` (plus up to 10% jitter, capped at an hour) until
``max_attempts`` attempts have failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from datetime import timedelta

import httpx
import structlog

from aybiza.security.secretbox import SecretBox
from aybiza.security.signing import SIGNATURE_HEADER, signature_header
from aybiza.services.webhooks import signing_secrets
from aybiza.store import webhooks as store
from aybiza.store.database import Database
from aybiza.store.models import WebhookDelivery, WebhookEndpoint, utcnow

log = structlog.get_logger(__name__)

_BATCH = 20
_MAX_BACKOFF_S = 3600.0
_USER_AGENT = "AYBIZA-Webhooks/1"


class WebhookDispatcher:
    """Background task that sends due deliveries; ``wake()`` when new ones were queued."""

    def __init__(
        self,
        database: Database,
        box: SecretBox,
        *,
        max_attempts: int = 8,
        backoff_s: float = 2.0,
        timeout_s: float = 10.0,
        poll_s: float = 1.0,
    ) -> None:
        self._database = database
        self._box = box
        self._max_attempts = max(1, max_attempts)
        self._backoff_s = backoff_s
        self._poll_s = poll_s
        self._lease = timedelta(seconds=timeout_s + 30)
        self._client = httpx.AsyncClient(
            timeout=timeout_s, follow_redirects=False, headers={"User-Agent": _USER_AGENT}
        )
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin delivering in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="webhook-dispatcher")

    def wake(self) -> None:
        """New deliveries were committed: look now rather than at the next poll."""
        self._wakeup.set()

    async def stop(self) -> None:
        """Stop delivering (pending deliveries stay queued for the next start)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._client.aclose()

    async def run_once(self) -> int:
        """Attempt every delivery due now; returns how many were attempted."""
        now = utcnow()
        async with self._database.session() as session:
            due = await store.due_deliveries(session, now, _BATCH)
        claimed: list[str] = []
        for delivery_id in due:
            async with self._database.writing() as session:
                if await store.claim(session, delivery_id, now, self._lease):
                    claimed.append(delivery_id)
        await asyncio.gather(*(self._attempt(delivery_id) for delivery_id in claimed))
        return len(claimed)

    async def _run(self) -> None:
        while True:
            self._wakeup.clear()
            try:
                attempted = await self.run_once()
                if attempted >= _BATCH:
                    continue
                wait_s = await self._until_next_due()
            except Exception:
                log.exception("webhooks.dispatch_failed")
                wait_s = self._poll_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), wait_s)

    async def _until_next_due(self) -> float:
        async with self._database.session() as session:
            due_at = await store.next_due_at(session)
        if due_at is None:
            return self._poll_s
        return min(max((due_at - utcnow()).total_seconds(), 0.0), self._poll_s)

    async def _attempt(self, delivery_id: str) -> None:
        async with self._database.session() as session:
            delivery = await session.get(WebhookDelivery, delivery_id)
            endpoint = (
                await session.get(WebhookEndpoint, delivery.endpoint_id) if delivery else None
            )
        if delivery is None or endpoint is None:
            return
        status_code: int | None = None
        error: str | None = None
        try:
            body = delivery.body.encode("utf-8")
            timestamp = int(time.time())
            header = signature_header(
                signing_secrets(self._box, endpoint, utcnow()), timestamp, body
            )
            response = await self._client.post(
                endpoint.url,
                content=body,
                headers={
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: header,
                    "AYBIZA-Event": delivery.event,
                    "AYBIZA-Delivery": delivery.id,
                },
            )
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        await self._record(delivery.id, status_code, error)

    async def _record(self, delivery_id: str, status_code: int | None, error: str | None) -> None:
        async with self._database.writing() as session:
            delivery = await session.get(WebhookDelivery, delivery_id)
            if delivery is None:
                return
            now = utcnow()
            delivery.attempts += 1
            delivery.last_status_code = status_code
            delivery.last_error = error
            delivery.locked_until = None
            if error is None:
                delivery.status, delivery.delivered_at = "delivered", now
            elif delivery.attempts >= self._max_attempts:
                delivery.status = "failed"
                log.warning("webhooks.failed", delivery=delivery.id, error=error)
            else:
                delay = min(self._backoff_s * 2 ** (delivery.attempts - 1), _MAX_BACKOFF_S)
                delay *= 1 + random.random() * 0.1
                delivery.next_attempt_at = now + timedelta(seconds=delay)
