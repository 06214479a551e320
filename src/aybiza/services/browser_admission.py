"""A browser test call meets its agent: the signed-in person's tenant, a free line within the
tenant's concurrency limit, the agent's published version (its latest when none is published,
so a draft can be tried before it goes live). Recorded like any call (``carrier: "browser"``)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.store.models import Agent, AgentVersion, Call, Tenant, utcnow
from aybiza.store.queries import count_live_calls, lock_tenant
from aybiza.telephony.carrier import (
    CONCURRENCY_LIMIT,
    NO_AGENT_VERSION,
    Admission,
    IncomingCall,
    Refused,
    Routed,
)

AGENT_NOT_FOUND = "agent-not-found"


async def admit_to_agent(
    session: AsyncSession, incoming: IncomingCall, tenant_id: str, agent_id: str
) -> Admission:
    """Record the browser call and route it to ``agent_id`` of ``tenant_id``. An agent of
    another tenant (or none) is refused without a record."""
    agent = await session.get(Agent, agent_id)
    if agent is None or agent.tenant_id != tenant_id or agent.deleted_at is not None:
        return Refused("", None, AGENT_NOT_FOUND)
    call = Call(
        call_sid=incoming.carrier_call_id,
        carrier=incoming.carrier,
        from_number=incoming.from_number,
        to_number=incoming.to_number,
        direction=incoming.direction,
        status="ringing",
        tenant_id=tenant_id,
        agent_id=agent.id,
        custom_parameters=dict(incoming.custom_parameters) or None,
    )
    await lock_tenant(session, tenant_id)
    tenant = await session.get(Tenant, tenant_id)
    assert tenant is not None, "agents reference their tenant"
    version = agent.published_version or agent.latest_version
    row = (
        (
            await session.execute(
                select(AgentVersion).where(
                    AgentVersion.agent_id == agent.id, AgentVersion.version == version
                )
            )
        )
        .scalars()
        .first()
    )
    if await count_live_calls(session, tenant_id) >= tenant.max_concurrent_calls:
        reason = CONCURRENCY_LIMIT
    elif row is None:
        reason = NO_AGENT_VERSION
    else:
        call.agent_version, call.agent_version_id = row.version, row.id
        session.add(call)
        await session.flush()
        return Routed(call.id, tenant_id, agent.id, row.version, row.id)
    call.status, call.ended_reason, call.ended_at = "completed", reason, utcnow()
    session.add(call)
    await session.flush()
    return Refused(call.id, tenant_id, reason)
