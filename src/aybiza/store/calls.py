"""Call queries: by id or CallSid within a tenant, filtered lists, and a call's turns and lines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.store.models import Call, PhoneNumber, TranscriptLine, Turn
from aybiza.store.queries import is_call_sid, is_row_id


async def call_by_sid(session: AsyncSession, call_sid: str) -> Call | None:
    """The call with this Twilio CallSid, whoever owns it (the Twilio edge's view)."""
    rows = await session.execute(select(Call).where(Call.call_sid == call_sid))
    return rows.scalars().first()


async def tenant_call(session: AsyncSession, tenant_id: str, ref: str) -> Call | None:
    """The tenant's call by our id or by its CallSid; None for anything else."""
    if is_row_id(ref):
        condition = Call.id == ref
    elif is_call_sid(ref):
        condition = Call.call_sid == ref
    else:
        return None
    rows = await session.execute(select(Call).where(condition, Call.tenant_id == tenant_id))
    return rows.scalars().first()


async def number_by_e164(session: AsyncSession, e164: str) -> PhoneNumber | None:
    """The registered number, whichever tenant owns it."""
    rows = await session.execute(select(PhoneNumber).where(PhoneNumber.e164 == e164))
    return rows.scalars().first()


@dataclass(frozen=True, slots=True)
class CallFilter:
    """Filters of the call list; ``number`` matches the platform's side of the call (the
    dialled number of an inbound call, the caller id of an outbound one)."""

    agent_id: str | None = None
    number: str | None = None
    status: str | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None


def filtered_calls(tenant_id: str, where: CallFilter) -> Select[Call]:
    """The tenant's calls matching ``where`` (unordered; the pager orders them)."""
    query = select(Call).where(Call.tenant_id == tenant_id)
    if where.agent_id is not None:
        query = query.where(Call.agent_id == where.agent_id)
    if where.number is not None:
        query = query.where(or_(Call.to_number == where.number, Call.from_number == where.number))
    if where.status is not None:
        query = query.where(Call.status == where.status)
    if where.started_after is not None:
        query = query.where(Call.created_at >= where.started_after)
    if where.started_before is not None:
        query = query.where(Call.created_at < where.started_before)
    return query


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
