"""Changes the edge workers must learn at once, pushed to them (docs/edge.md).

The auth-validator holds a replica of the API keys (hash, tenant, scopes) and the cache-manager
holds published agent configurations under versioned keys. Both pull the origin from time to
time; these pushes make a new key usable, a revoked key refused and a published version served
within seconds of the change instead of at the next pull. Each event is posted as JSON to every
URL of ``AYBIZA_EDGE_EVENT_URLS`` with ``Authorization: Bearer <AYBIZA_EDGE_SECRET>``, retried
with backoff; an event that still fails is logged and left to the next pull.

Events are sent after the change is committed, from a background task, so the API answers
without waiting on the edge.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
import structlog

log = structlog.get_logger(__name__)

Event = dict[str, Any]


def key_created(key_hash: str, key_id: str | None, tenant_id: str, scopes: list[str]) -> Event:
    return {
        "type": "key.created",
        "key": {"hash": key_hash, "key_id": key_id, "tenant_id": tenant_id, "scopes": scopes},
    }


def key_revoked(key_hash: str) -> Event:
    return {"type": "key.revoked", "key_hash": key_hash}


def agent_published(tenant_id: str, agent_id: str, version: str | None) -> Event:
    """``version`` None: the agent is gone (deleted), so nothing of it may be served."""
    return {
        "type": "agent.published",
        "tenant_id": tenant_id,
        "agent_id": agent_id,
        "version": version,
    }


class EdgeEvents:
    """The queue of events for the edge and the task that posts them."""

    def __init__(
        self,
        urls: tuple[str, ...],
        secret: str | None,
        *,
        attempts: int = 5,
        backoff_s: float = 0.5,
        timeout_s: float = 3.0,
    ) -> None:
        self._urls = urls if secret else ()
        self._secret = secret or ""
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._timeout_s = timeout_s
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    @property
    def enabled(self) -> bool:
        """True when there is an edge to tell (URLs and the shared secret are set)."""
        return bool(self._urls)

    def send(self, event: Event) -> None:
        """Queue ``event``; it is posted in the background (nothing happens when disabled)."""
        if not self.enabled:
            return
        self._queue.put_nowait(event)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._post_queued(), name="edge-events")

    async def flush(self) -> None:
        """Wait until every queued event was posted or given up (the CLI, before it exits)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def aclose(self) -> None:
        """Post what is queued, then close the connections."""
        await self.flush()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _post_queued(self) -> None:
        while not self._queue.empty():
            batch: list[Event] = []
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await asyncio.gather(*(self._post(url, batch) for url in self._urls))

    async def _post(self, url: str, batch: list[Event]) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout_s)
        headers = {"authorization": f"Bearer {self._secret}"}
        for attempt in range(1, self._attempts + 1):
            status: int | None = None
            with contextlib.suppress(httpx.HTTPError):
                response = await self._client.post(url, json={"events": batch}, headers=headers)
                status = response.status_code
                if status < 300:
                    return
                if status < 500 and status != 429:
                    # Refused (a wrong secret or URL): trying again will not help.
                    log.error("edge.event_push_refused", url=url, status=status)
                    return
            log.warning("edge.event_push_failed", url=url, status=status, attempt=attempt)
            if attempt < self._attempts:
                await asyncio.sleep(self._backoff_s * 2 ** (attempt - 1))
        log.error("edge.event_push_gave_up", url=url, events=len(batch))
