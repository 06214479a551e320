"""Persists what a call loop reports, through the process's single store writer, and queues
the tenant's webhook events in the same writes (so an event never describes unstored data)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.analytics.events import CallEvents
from aybiza.analytics.recording import CallStats, Speaker, TurnRecord
from aybiza.store.models import Call, TranscriptLine, Turn, utcnow
from aybiza.store.writer import StoreWriter


class StoreCallRecorder:
    """Each transcript line, turn and the call's end are queued for writing the moment they
    happen, in order; nothing waits for the end of the call."""

    def __init__(
        self,
        writer: StoreWriter,
        *,
        call_id: str,
        tenant_id: str,
        call_sid: str = "",
        events: CallEvents | None = None,
    ) -> None:
        self._writer = writer
        self._call_id = call_id
        self._tenant_id = tenant_id
        self._call_sid = call_sid
        self._events = events
        self._seq = 0

    def transcript(self, speaker: Speaker, text: str) -> None:
        """A final caller line or a heard agent line (``transcript.final``)."""
        self._seq += 1
        line = TranscriptLine(
            tenant_id=self._tenant_id,
            call_id=self._call_id,
            seq=self._seq,
            speaker=speaker,
            text=text,
            at=utcnow(),
        )
        events, call_sid = self._events, self._call_sid

        async def write(session: AsyncSession) -> None:
            session.add(line)
            if events is not None:
                await events.transcript_final(session, line, call_sid)

        self._writer.submit(write)

    def turn(self, record: TurnRecord) -> None:
        """A settled turn with its timings and usage."""
        row = Turn(
            tenant_id=self._tenant_id,
            call_id=self._call_id,
            index=record.index,
            user_text=record.user_text,
            agent_text=record.agent_text,
            heard_text=record.heard_text,
            interrupted=record.interrupted,
            model=record.model,
            timings_ms=record.timings_ms,
            usage=record.usage,
            notes=record.notes,
        )

        async def write(session: AsyncSession) -> None:
            session.add(row)

        self._writer.submit(write)

    def ended(self, reason: str, stats: CallStats, transfer_to: str | None) -> None:
        """The call is over (``call.ended`` with the full report)."""
        self._update_call(
            {
                "status": "completed",
                "ended_reason": reason,
                "ended_at": utcnow(),
                "stats": stats.as_dict(),
                "transfer_to": transfer_to,
            },
            self._events.call_ended if self._events else None,
            # A fallback recogniser ran: the record (and the cost) follow the one that ran.
            engines={"stt": stats.stt_ran, "stt_fallback": stats.stt_fallback}
            if stats.stt_ran
            else None,
        )

    def _update_call(
        self,
        values: dict[str, Any],
        event: Callable[[AsyncSession, str], Awaitable[None]] | None,
        *,
        engines: dict[str, str | None] | None = None,
    ) -> None:
        call_id = self._call_id

        async def write(session: AsyncSession) -> None:
            if engines is not None:
                call = await session.get(Call, call_id)
                if call is not None:
                    values["engines"] = {**(call.engines or {}), **engines}
            await session.execute(update(Call).where(Call.id == call_id).values(**values))
            if event is not None:
                await event(session, call_id)

        # The call's own state is kept even when a long outage has filled the writer's queue.
        self._writer.submit(write, essential=True)
