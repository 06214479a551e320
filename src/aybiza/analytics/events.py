"""Call events for tenants' webhooks: ``call.started``, ``transcript.final``, ``call.ended``.

Each is queued in the same transaction that stores what it reports; the dispatcher is woken
once that transaction commits (``wake``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.analytics.cost import PriceTable
from aybiza.analytics.report import call_report, call_summary, recording_json
from aybiza.analytics.row_json import iso
from aybiza.store.models import Call, TranscriptLine
from aybiza.store.webhooks import enqueue_event, has_subscribers

CALL_STARTED = "call.started"
CALL_ENDED = "call.ended"
TRANSCRIPT_FINAL = "transcript.final"
RECORDING_READY = "recording.ready"
EVENT_TYPES = (CALL_STARTED, CALL_ENDED, TRANSCRIPT_FINAL, RECORDING_READY)


class CallEvents:
    """Builds event payloads and queues them for the call's tenant."""

    def __init__(self, prices: PriceTable, wake: Callable[[], None] = lambda: None) -> None:
        self.prices = prices
        self.wake = wake
        self._queued = False
        # Run in the transaction that ends the call (the automation engine's workflows).
        self.call_ended_hooks: list[Callable[[AsyncSession, str], Awaitable[object]]] = []

    def wake_if_queued(self) -> None:
        """After a commit: wake the dispatcher only when that commit queued deliveries (most
        transcript lines of most tenants queue none, and a wake costs two queries)."""
        if self._queued:
            self._queued = False
            self.wake()

    async def _enqueue(
        self, session: AsyncSession, tenant_id: str, event: str, data: dict[str, Any], call_id: str
    ) -> None:
        if await enqueue_event(session, tenant_id, event, data, call_id=call_id):
            self._queued = True

    async def call_started(self, session: AsyncSession, call_id: str) -> None:
        """The media stream started: the agent is on the line."""
        call = await session.get(Call, call_id)
        if call is not None and call.tenant_id is not None:
            summary = call_summary(call)
            await self._enqueue(session, call.tenant_id, CALL_STARTED, summary, call.id)

    async def transcript_final(
        self, session: AsyncSession, line: TranscriptLine, call_sid: str
    ) -> None:
        """A caller line became final, or an agent line was heard."""
        data = {
            "call_id": line.call_id,
            "call_sid": call_sid,
            "seq": line.seq,
            "speaker": line.speaker,
            "text": line.text,
            "at": iso(line.at),
        }
        await self._enqueue(session, line.tenant_id, TRANSCRIPT_FINAL, data, line.call_id)

    async def call_ended(self, session: AsyncSession, call_id: str) -> None:
        """The call is over: the full report, as ``GET /v1/calls/{id}`` would return it."""
        call = await session.get(Call, call_id)
        tenant_id = call.tenant_id if call is not None else None
        if call is not None and tenant_id and await has_subscribers(session, tenant_id, CALL_ENDED):
            report = await call_report(session, call, self.prices)
            await self._enqueue(session, tenant_id, CALL_ENDED, report, call_id)
        for hook in self.call_ended_hooks:
            await hook(session, call_id)

    async def recording_ready(self, session: AsyncSession, call: Call) -> None:
        """The call's recording is stored: where to fetch it, how long it is."""
        recording = recording_json(call)
        if call.tenant_id is not None and recording is not None:
            data = {"call_id": call.id, "call_sid": call.call_sid, **recording}
            await self._enqueue(session, call.tenant_id, RECORDING_READY, data, call.id)
