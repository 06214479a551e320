"""Persists what a call loop reports, through the process's single store writer, and queues
the tenant's webhook events in the same writes (so an event never describes unstored data)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.analytics.events import CallEvents
from aybiza.analytics.recording import CallStats, Speaker, TurnRecord
from aybiza.security.pii import NO_REDACTION, Redactor
from aybiza.store.models import Call, TranscriptLine, Turn, new_id, utcnow
from aybiza.store.sealing_hooks import sealed_values
from aybiza.store.writer import RowInsert, StoreWriter

# Caller lines remembered (redacted) for the turn that answers them.
_REMEMBERED_LINES = 8


class StoreCallRecorder:
    """Each transcript line, turn and the call's end are queued for writing the moment they
    happen, in order; nothing waits for the end of the call. Lines and turns are queued as
    rows (``RowInsert``): the writer inserts a batch's rows with one statement per table.

    What is stored (and so what webhooks, the analysis and workflows see) passes through the
    agent's ``redactor`` first; a caller line is redacted knowing the agent line it answers
    ("What is your PIN?"). The call loop keeps what the caller said for the model."""

    def __init__(
        self,
        writer: StoreWriter,
        *,
        call_id: str,
        tenant_id: str,
        call_sid: str = "",
        events: CallEvents | None = None,
        redactor: Redactor = NO_REDACTION,
        on_line: Callable[[Speaker, str], None] | None = None,
    ) -> None:
        self._writer = writer
        # Told each line as stored (redacted): a browser call's live transcript.
        self._on_line = on_line
        self._call_id = call_id
        self._tenant_id = tenant_id
        self._call_sid = call_sid
        self._events = events
        self._seq = 0
        self._redactor = redactor
        # The agent's last line as spoken, and the one the last caller line answered.
        self._prompt = ""
        self._caller_prompt = ""
        self._caller_lines: dict[str, str] = {}

    def transcript(self, speaker: Speaker, text: str) -> None:
        """A final caller line or a heard agent line (``transcript.final``)."""
        self._seq += 1
        redacted = self._redacted_line(speaker, text)
        values: dict[str, Any] = {
            "id": new_id(),
            "tenant_id": self._tenant_id,
            "call_id": self._call_id,
            "seq": self._seq,
            "speaker": speaker,
            "text": redacted,
            "at": utcnow(),
        }
        if self._on_line is not None:
            self._on_line(speaker, redacted)
        events, call_sid = self._events, self._call_sid
        then = None
        if events is not None:

            async def then(session: AsyncSession) -> None:
                await events.transcript_final(session, TranscriptLine(**values), call_sid)

        self._writer.submit(RowInsert(TranscriptLine, self._tenant_id, values, then))

    def turn(self, record: TurnRecord) -> None:
        """A settled turn with its timings and usage."""
        redactor = self._redactor
        user_text = self._caller_lines.get(record.user_text)
        if user_text is None:
            user_text = redactor.redact(record.user_text, self._caller_prompt)
        values = {
            "id": new_id(),
            "tenant_id": self._tenant_id,
            "call_id": self._call_id,
            "index": record.index,
            "user_text": user_text,
            "agent_text": redactor.redact(record.agent_text),
            "heard_text": redactor.redact(record.heard_text),
            "interrupted": record.interrupted,
            "model": record.model,
            "timings_ms": record.timings_ms,
            "usage": record.usage,
            "notes": redactor.redact_value(record.notes),
            "created_at": utcnow(),
        }
        self._writer.submit(RowInsert(Turn, self._tenant_id, values))

    def ended(self, reason: str, stats: CallStats, transfer_to: str | None) -> None:
        """The call is over (``call.ended`` with the full report); a warm transfer's summary is
        stored redacted like the transcript it was written from."""
        stored = stats.as_dict()
        if "transfer_summary" in stored:
            stored["transfer_summary"] = self._redactor.redact(stored["transfer_summary"])
        self._update_call(
            {
                "status": "completed",
                "ended_reason": reason,
                "ended_at": utcnow(),
                "stats": stored,
                "transfer_to": transfer_to,
                **({"answered_by": stats.answered_by} if stats.answered_by else {}),
            },
            self._events.call_ended if self._events else None,
            # A fallback recogniser ran: the record (and the cost) follow the one that ran.
            engines={"stt": stats.stt_ran, "stt_fallback": stats.stt_fallback}
            if stats.stt_ran
            else None,
        )

    def _redacted_line(self, speaker: Speaker, text: str) -> str:
        if speaker == "agent":
            self._prompt = text
            return self._redactor.redact(text)
        redacted = self._redactor.redact(text, self._prompt)
        self._caller_prompt = self._prompt
        self._caller_lines[text] = redacted
        if len(self._caller_lines) > _REMEMBERED_LINES:
            del self._caller_lines[next(iter(self._caller_lines))]
        return redacted

    def _update_call(
        self,
        values: dict[str, Any],
        event: Callable[[AsyncSession, str], Awaitable[None]] | None,
        *,
        engines: dict[str, str | None] | None = None,
    ) -> None:
        call_id, tenant_id = self._call_id, self._tenant_id

        async def write(session: AsyncSession) -> None:
            if engines is not None:
                call = await session.get(Call, call_id)
                if call is not None:
                    values["engines"] = {**(call.engines or {}), **engines}
            # A Core update: the stats are marked for sealing here (``sealed_values``).
            sealed = await sealed_values(session, Call, tenant_id, values)
            await session.execute(update(Call).where(Call.id == call_id).values(**sealed))
            if event is not None:
                await event(session, call_id)

        # The call's own state is kept even when a long outage has filled the writer's queue.
        self._writer.submit(write, essential=True)
