"""The rows analytics aggregate: one tenant's calls started in a range, their turns, their
post-call sentiments, and the names of their agents and numbers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.store.automation_models import CallAnalysis
from aybiza.store.models import Agent, Call, PhoneNumber, Turn

# Ids per ``IN (...)``: well under SQLite's and asyncpg's bound-parameter limits.
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class CallRange:
    """Calls of ``tenant_id`` created in ``[start, end)``, optionally of one agent or number."""

    tenant_id: str
    start: datetime
    end: datetime
    agent_id: str | None = None
    phone_number_id: str | None = None


async def calls_in_range(session: AsyncSession, where: CallRange) -> list[Call]:
    """The calls of ``where``, oldest first."""
    query = select(Call).where(
        Call.tenant_id == where.tenant_id,
        Call.created_at >= where.start,
        Call.created_at < where.end,
    )
    if where.agent_id is not None:
        query = query.where(Call.agent_id == where.agent_id)
    if where.phone_number_id is not None:
        query = query.where(Call.phone_number_id == where.phone_number_id)
    rows = await session.execute(query.order_by(Call.created_at, Call.id))
    return list(rows.scalars())


async def turns_of(session: AsyncSession, call_ids: Sequence[str]) -> dict[str, list[Turn]]:
    """The turns of each call, in order."""
    out: dict[str, list[Turn]] = {}
    for chunk in _chunks(call_ids):
        rows = await session.execute(
            select(Turn).where(Turn.call_id.in_(chunk)).order_by(Turn.call_id, Turn.index)
        )
        for turn in rows.scalars():
            out.setdefault(turn.call_id, []).append(turn)
    return out


async def sentiments_of(session: AsyncSession, call_ids: Sequence[str]) -> dict[str, str | None]:
    """The post-call sentiment of each analysed call."""
    out: dict[str, str | None] = {}
    for chunk in _chunks(call_ids):
        rows = await session.execute(
            select(CallAnalysis.call_id, CallAnalysis.sentiment).where(
                CallAnalysis.call_id.in_(chunk)
            )
        )
        out.update({call_id: sentiment for call_id, sentiment in rows.all()})
    return out


async def names_of(session: AsyncSession, tenant_id: str) -> tuple[dict[str, str], dict[str, str]]:
    """The tenant's agents' names and numbers' E.164, by id (deleted agents included: their
    past calls still count)."""
    agents = await session.execute(select(Agent.id, Agent.name).where(Agent.tenant_id == tenant_id))
    numbers = await session.execute(
        select(PhoneNumber.id, PhoneNumber.e164).where(PhoneNumber.tenant_id == tenant_id)
    )
    return {i: n for i, n in agents.all()}, {i: e for i, e in numbers.all()}


def _chunks(ids: Sequence[str]) -> list[Sequence[str]]:
    return [ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)]
