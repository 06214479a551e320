"""Call queries: by CallSid, list filters, numbers by E.164, and a call's turns and lines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, String, or_, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.store.models import Call, PhoneNumber, TranscriptLine, Turn


async def call_by_sid(session: AsyncSession, call_sid: str) -> Call | None:
    """The call with this Twilio CallSid, whoever owns it (the Twilio edge's view)."""
    rows = await session.execute(select(Call).where(Call.call_sid == call_sid))
    return rows.scalars().first()


async def number_by_e164(session: AsyncSession, e164: str) -> PhoneNumber | None:
    """The registered number, whichever tenant owns it."""
    rows = await session.execute(select(PhoneNumber).where(PhoneNumber.e164 == e164))
    return rows.scalars().first()


@dataclass(frozen=True, slots=True)
class CallFilter:
    """Filters of the call list; ``number`` matches either side of the call (the dialled
    number and the caller's)."""

    agent_id: str | None = None
    number: str | None = None
    status: str | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None


def call_filters(where: CallFilter, number_index: str | None = None) -> list[ColumnElement[bool]]:
    """The conditions of ``where`` on the calls table (the tenant's scope is added by its
    repository). The numbers are sealed at rest: ``number_index`` is the blind index of
    ``where.number`` (``FieldKeys.blind_index``) matched against theirs; rows written before
    sealing (plain text, no index) are matched on the text itself."""
    conditions: list[ColumnElement[bool]] = []
    if where.agent_id is not None:
        conditions.append(Call.agent_id == where.agent_id)
    if where.number is not None:
        # Compared as plain strings: a sealed column would seal the searched number.
        plain_to, plain_from = (
            type_coerce(Call.to_number, String),
            type_coerce(Call.from_number, String),
        )
        matches = [plain_to == where.number, plain_from == where.number]
        if number_index is not None:
            matches += [
                Call.to_number_index == number_index,
                Call.from_number_index == number_index,
            ]
        conditions.append(or_(*matches))
    if where.status is not None:
        conditions.append(Call.status == where.status)
    if where.started_after is not None:
        conditions.append(Call.created_at >= where.started_after)
    if where.started_before is not None:
        conditions.append(Call.created_at < where.started_before)
    return conditions


async def turns_and_lines(
    session: AsyncSession, call_id: str
) -> tuple[Sequence[Turn], Sequence[TranscriptLine]]:
    """A call's turns (in order) and transcript (in order)."""
    turns = (
        await session.execute(select(Turn).where(Turn.call_id == call_id).order_by(Turn.index))
    ).scalars()
    lines = (
        await session.execute(
            select(TranscriptLine)
            .where(TranscriptLine.call_id == call_id)
            .order_by(TranscriptLine.seq)
        )
    ).scalars()
    return list(turns), list(lines)
