"""An incoming call meets its number: which tenant, whether the tenant has a free line, which
agent version answers. Decided in one write transaction so the concurrency limit holds when
several calls (on several server processes) arrive together. Carrier-neutral: every carrier
describes its calls as an ``IncomingCall``."""

from __future__ import annotations

import random

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.services.routing import choose_version
from aybiza.store.calls import call_by_sid, number_by_e164
from aybiza.store.models import Agent, AgentVersion, Call, Tenant, utcnow
from aybiza.store.queries import count_live_calls, is_row_id, lock_tenant, tenant_by_name
from aybiza.telephony.carrier import (
    CONCURRENCY_LIMIT,
    NO_AGENT_VERSION,
    OUTBOUND_API,
    SERVER_DRAINING,
    UNKNOWN_NUMBER,
    Admission,
    IncomingCall,
    NotTakingCalls,
    Refused,
    Routed,
)

# The carrier call id of a call placed through the API until the carrier's answer names it.
PENDING_SID_PREFIX = "pending-"


async def placed_call(
    session: AsyncSession,
    call_id: str | None,
    carrier_call_id: str,
    from_number: str,
    to_number: str,
) -> Call | None:
    """The call placed through ``POST /v1/calls`` that a carrier's request is about (its URL
    carries ``call_id``), taking the carrier's call id if the call was still waiting for it."""
    call = await session.get(Call, call_id) if call_id and is_row_id(call_id) else None
    if call is None or call.direction != OUTBOUND_API:
        return None
    if call.call_sid.startswith(PENDING_SID_PREFIX):
        if (call.from_number, call.to_number) != (from_number, to_number):
            return None
        call.call_sid = carrier_call_id
        await session.flush()
    return call if call.call_sid == carrier_call_id else None


async def admit(
    session: AsyncSession,
    incoming: IncomingCall,
    rng: random.Random,
    *,
    operator_tenant: str,
    draining: bool = False,
) -> Admission:
    """Record the call and decide who answers it. Carriers retry a request that timed out:
    the same carrier call id gets the same decision. A call placed through the API
    (``incoming.call_id``) was admitted when it was placed. A call to a number no tenant
    registered is recorded under ``operator_tenant`` (the tenant ``AYBIZA_API_KEY`` acts for),
    whose operator runs the endpoint it reached. While the server drains, a new call goes to
    its number's fallback, or ``NotTakingCalls`` is raised (nothing recorded: the carrier
    retries it on another server)."""
    sid = incoming.carrier_call_id
    existing = await call_by_sid(session, sid) or await placed_call(
        session, incoming.call_id, sid, incoming.from_number, incoming.to_number
    )
    if existing is not None:
        return _repeat(existing)
    call = Call(
        call_sid=sid,
        carrier=incoming.carrier,
        from_number=incoming.from_number,
        to_number=incoming.to_number,
        direction=incoming.direction,
        status="ringing",
    )
    number = await number_by_e164(session, incoming.platform_number)
    if draining:
        if number is None or not number.fallback_number:
            raise NotTakingCalls("this server is shutting down; try another")
        call.tenant_id, call.phone_number_id = number.tenant_id, number.id
        return await _refuse(session, call, SERVER_DRAINING, number.fallback_number)
    if number is None:
        operator = await tenant_by_name(session, operator_tenant)
        call.tenant_id = operator.id if operator is not None else None
        return await _refuse(session, call, UNKNOWN_NUMBER)
    call.tenant_id, call.phone_number_id, call.agent_id = (
        number.tenant_id,
        number.id,
        number.agent_id,
    )
    await lock_tenant(session, number.tenant_id)
    tenant = await session.get(Tenant, number.tenant_id)
    assert tenant is not None, "numbers reference their tenant"
    if await count_live_calls(session, tenant.id) >= tenant.max_concurrent_calls:
        return await _refuse(session, call, CONCURRENCY_LIMIT, number.fallback_number)
    agent = await session.get(Agent, number.agent_id)
    version = choose_version(
        pinned=number.agent_version,
        weights=number.version_weights,
        published=agent.published_version if agent is not None else None,
        rng=rng,
    )
    row = None
    if agent is not None and version is not None:
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
    if row is None:
        return await _refuse(session, call, NO_AGENT_VERSION, number.fallback_number)
    call.agent_version, call.agent_version_id = row.version, row.id
    session.add(call)
    await session.flush()
    return Routed(call.id, number.tenant_id, number.agent_id, row.version, row.id)


async def _refuse(
    session: AsyncSession, call: Call, reason: str, transfer_to: str | None = None
) -> Refused:
    call.status, call.ended_reason, call.ended_at = "completed", reason, utcnow()
    call.transfer_to = transfer_to
    session.add(call)
    await session.flush()
    return Refused(call.id, call.tenant_id, reason, transfer_to)


def _repeat(call: Call) -> Admission:
    if call.ended_at is None and call.agent_version_id is not None and call.tenant_id is not None:
        assert call.agent_id is not None and call.agent_version is not None
        return Routed(
            call.id, call.tenant_id, call.agent_id, call.agent_version, call.agent_version_id
        )
    return Refused(call.id, call.tenant_id, call.ended_reason or "ended", call.transfer_to)
