"""Delivers queued webhook events through the outbound sender, retried with backoff and jitter.

One dispatcher runs per server process, as a ``BackgroundLoop``. Deliveries live in the
database, so retries survive a restart and any process may deliver any event; a short lease
(``locked_until``) makes sure only one process attempts a delivery at a time. A 2xx answer
delivers; anything else (or no answer) is retried after ``backoff_s * 2**(attempt-1)`` plus up to
10% jitter (at most an hour) until ``max_attempts`` attempts have failed. A target the SSRF guard
refuses fails at once: nothing is sent, and the refusal is the delivery's ``last_error``.
"""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import structlog

from aybiza.background import BackgroundLoop
from aybiza.outbound.sender import OutboundError, OutboundRequest, Retries, Sender
from aybiza.security.secretbox import SecretBox
from aybiza.services.webhooks import signing_secrets
from aybiza.store import webhooks as store
from aybiza.store.database import Database
from aybiza.store.models import WebhookDelivery, WebhookEndpoint, utcnow

log = structlog.get_logger(__name__)

_BATCH = 20
_MAX_BACKOFF_S = 3600.0


class WebhookDispatcher:
    """Background task that sends due deliveries; ``wake()`` when new ones were queued."""

    def __init__(
        self,
        database: Database,
        box: SecretBox,
        sender: Sender,
        *,
        max_attempts: int = 8,
        backoff_s: float = 2.0,
        timeout_s: float = 10.0,
        poll_s: float = 1.0,
        rng: random.Random | None = None,
    ) -> None:
        self._database = database
        self._box = box
        self._sender = sender
        # Each delivery attempt is one send; the attempts between sends are spread by the
        # database's ``next_attempt_at``, so they survive restarts.
        self._retries = Retries(
            attempts=max(1, max_attempts), backoff_s=backoff_s, max_backoff_s=_MAX_BACKOFF_S
        )
        self._timeout_s = timeout_s
        self._poll_s = poll_s
        self._rng = rng if rng is not None else random.Random()
        self._lease = timedelta(seconds=timeout_s + 30)
        self._loop = BackgroundLoop("webhook-dispatcher", self._step, interval_s=poll_s)

    def start(self) -> None:
        """Begin delivering in the background."""
        self._loop.start()

    def wake(self) -> None:
        """New deliveries were committed: look now rather than at the next poll."""
        self._loop.wake()

    async def stop(self) -> None:
        """Stop delivering (pending deliveries stay queued for the next start)."""
        await self._loop.stop()

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

    async def _step(self) -> float:
        attempted = await self.run_once()
        if attempted >= _BATCH:
            return 0.0
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
        request = OutboundRequest(
            method="POST",
            url=endpoint.url,
            body=delivery.body.encode("utf-8"),
            headers={"AYBIZA-Event": delivery.event, "AYBIZA-Delivery": delivery.id},
            signing_secrets=signing_secrets(self._box, endpoint, utcnow()),
            # The same on every attempt: a receiver can drop a repeat it already applied.
            idempotency_key=delivery.id,
        )
        status_code: int | None = None
        error: str | None = None
        final = False
        try:
            response = await self._sender.send(request, timeout_s=self._timeout_s)
        except OutboundError as exc:
            error, final = exc.message[:500], exc.kind == "refused"
        except Exception as exc:  # a bug must not leave the delivery leased and unrecorded
            log.exception("webhooks.attempt_failed", delivery=delivery.id)
            error = f"{type(exc).__name__}: {exc}"[:500]
        else:
            status_code = response.status
            if not response.ok:
                error = f"HTTP {status_code}"
        await self._record(delivery.id, status_code, error, final=final)

    async def _record(
        self, delivery_id: str, status_code: int | None, error: str | None, *, final: bool
    ) -> None:
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
            elif final or delivery.attempts >= self._retries.attempts:
                delivery.status = "failed"
                log.warning("webhooks.failed", delivery=delivery.id, error=error)
            else:
                delay = self._retries.delay_s(delivery.attempts, self._rng)
                delivery.next_attempt_at = now + timedelta(seconds=delay)
