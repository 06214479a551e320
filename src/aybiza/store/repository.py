"""Queries the services need: agents by number, calls with their turns and transcript."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.store.models import Agent, Call, PhoneNumber, TranscriptLine, Turn


async def agent_for_number(session: AsyncSession, e164: str) -> Agent | None:
    """The agent bound to a dialled number, or None for an unknown number."""
    row = await session.execute(
        select(Agent)
        .join(PhoneNumber, PhoneNumber.agent_id == Agent.id)
        .where(PhoneNumber.e164 == e164)
    )
    return row.scalars().first()


async def get_agent(session: AsyncSession, agent_id: str) -> Agent | None:
    return await session.get(Agent, agent_id)


async def count_agents(session: AsyncSession) -> int:
    rows = await session.execute(select(Agent.id).limit(1))
    return len(rows.all())


async def create_agent(
    session: AsyncSession, *, name: str, version: str, config: dict[str, Any], number: str | None
) -> Agent:
    agent = Agent(name=name, version=version, config=config)
    session.add(agent)
    await session.flush()
    if number is not None:
        session.add(PhoneNumber(e164=number, agent_id=agent.id))
    return agent


async def call_by_sid(session: AsyncSession, call_sid: str) -> Call | None:
    rows = await session.execute(select(Call).where(Call.call_sid == call_sid))
    return rows.scalars().first()


@dataclass(frozen=True, slots=True)
class CallRecord:
    call: Call
    agent: Agent | None
    turns: Sequence[Turn]
    transcript: Sequence[TranscriptLine]


async def call_record(session: AsyncSession, call_sid: str) -> CallRecord | None:
    """A call with its agent, turns (in order) and transcript (in order)."""
    call = await call_by_sid(session, call_sid)
    if call is None:
        return None
    agent = await session.get(Agent, call.agent_id) if call.agent_id else None
    turns = (
        await session.execute(select(Turn).where(Turn.call_id == call.id).order_by(Turn.index))
    ).scalars()
    lines = (
        await session.execute(
            select(TranscriptLine)
            .where(TranscriptLine.call_id == call.id)
            .order_by(TranscriptLine.seq)
        )
    ).scalars()
    return CallRecord(call=call, agent=agent, turns=list(turns), transcript=list(lines))
