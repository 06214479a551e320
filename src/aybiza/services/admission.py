"""An incoming call meets its number: which tenant, whether the tenant has a free line, which
agent version answers. The number and its agent version are configuration, read first through
the configuration cache (``aybiza.services.number_config``); the rest is decided in one write
transaction on the primary so the concurrency limit holds when several calls (on several
server processes) arrive together. Carrier-neutral: every carrier describes its calls as an
``IncomingCall``.

The transaction is kept to as few statements as the decision allows, because on SQLite every
other writer of the process waits for it and the caller hears nothing until it commits: one
``SELECT`` answers whether the carrier asked before (same call id), whether the number is still
registered on the primary, the tenant's limit and its live calls; one Core ``INSERT`` records
the call (its numbers sealed like any other write: ``sealed_values``). PostgreSQL first locks
the tenant's row (``lock_tenant``), so the count is taken after every earlier admission of the
tenant committed. A carrier's retry and a call placed through the API take the ORM path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.services.number_config import NumberConfig, NumberRouting
from aybiza.store.calls import call_by_sid
from aybiza.store.models import Call, PhoneNumber, Tenant, new_id, utcnow
from aybiza.store.queries import is_row_id, live_calls_query, lock_tenant, tenant_by_name
from aybiza.store.sealing_hooks import sealed_values
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


@dataclass(frozen=True, slots=True)
class _State:
    """What the primary says in the admission's one ``SELECT``."""

    existing_id: str | None
    number_registered: bool
    limit: int
    live: int


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
    routing: NumberRouting | None,
    *,
    operator_tenant: str,
    draining: bool = False,
) -> Admission:
    """Record the call and decide who answers it, ``routing`` being what the configuration
    says about the dialled number (``number_routing``). Carriers retry a request that timed
    out: the same carrier call id gets the same decision. A call placed through the API
    (``incoming.call_id``) was admitted when it was placed. A call to a number no tenant
    registered is recorded under ``operator_tenant`` (the tenant ``AYBIZA_API_KEY`` acts for),
    whose operator runs the endpoint it reached. While the server drains, a new call goes to
    its number's fallback, or ``NotTakingCalls`` is raised (nothing recorded: the carrier
    retries it on another server)."""
    sid = incoming.carrier_call_id
    if incoming.call_id is not None:
        placed = await call_by_sid(session, sid) or await placed_call(
            session, incoming.call_id, sid, incoming.from_number, incoming.to_number
        )
        if placed is not None:
            return _repeat(placed)
    number = routing.number if routing is not None else None
    if number is not None and not draining:
        await lock_tenant(session, number.tenant_id)
    state = await _state(session, sid, number)
    if state.existing_id is not None:
        existing = await session.get(Call, state.existing_id)
        assert existing is not None, "read in this transaction"
        return _repeat(existing)
    values: dict[str, Any] = {
        "call_sid": sid,
        "carrier": incoming.carrier,
        "from_number": incoming.from_number,
        "to_number": incoming.to_number,
        "direction": incoming.direction,
        "status": "ringing",
        "custom_parameters": dict(incoming.custom_parameters) or None,
    }
    # The cache (or a replica) may still show a number the primary has just released: the
    # primary decides.
    if not state.number_registered:
        routing = number = None
    if draining:
        if number is None or not number.fallback_number:
            raise NotTakingCalls("this server is shutting down; try another")
        values.update(tenant_id=number.tenant_id, phone_number_id=number.id)
        return await _refuse(session, values, SERVER_DRAINING, number.fallback_number)
    if routing is None or number is None:
        operator = await tenant_by_name(session, operator_tenant)
        values["tenant_id"] = operator.id if operator is not None else None
        return await _refuse(session, values, UNKNOWN_NUMBER)
    values.update(tenant_id=number.tenant_id, phone_number_id=number.id, agent_id=number.agent_id)
    if state.live >= state.limit:
        return await _refuse(session, values, CONCURRENCY_LIMIT, number.fallback_number)
    row = routing.version
    if row is None:
        return await _refuse(session, values, NO_AGENT_VERSION, number.fallback_number)
    values.update(agent_version=row.version, agent_version_id=row.id)
    call_id = await _insert_call(session, values)
    return Routed(call_id, number.tenant_id, number.agent_id, row.version, row.id)


async def _state(session: AsyncSession, sid: str, number: NumberConfig | None) -> _State:
    """The admission's one query: a call already recorded under ``sid``, and for a number,
    whether the primary still has it, its tenant's limit and live calls."""
    columns = [select(Call.id).where(Call.call_sid == sid).limit(1).scalar_subquery()]
    if number is not None:
        columns += [
            select(PhoneNumber.id).where(PhoneNumber.id == number.id).scalar_subquery(),
            select(Tenant.max_concurrent_calls)
            .where(Tenant.id == number.tenant_id)
            .scalar_subquery(),
            live_calls_query(number.tenant_id, utcnow()).scalar_subquery(),
        ]
    row = (await session.execute(select(*columns))).one()
    if number is None:
        return _State(row[0], False, 0, 0)
    # A tenant deleted since the number was read has no line to give.
    limit = row[2] if row[2] is not None else 0
    return _State(row[0], row[1] is not None, int(limit), int(row[3]))


async def _insert_call(session: AsyncSession, values: dict[str, Any]) -> str:
    """Record the call with one Core ``INSERT`` (sealed columns marked for its tenant)."""
    call_id = new_id()
    row = {"id": call_id, "created_at": utcnow(), **values}
    sealed = await sealed_values(session, Call, row.get("tenant_id"), row)
    await session.execute(insert(Call).values(**sealed))
    return call_id


async def _refuse(
    session: AsyncSession,
    values: dict[str, Any],
    reason: str,
    transfer_to: str | None = None,
) -> Refused:
    values.update(
        status="completed", ended_reason=reason, ended_at=utcnow(), transfer_to=transfer_to
    )
    call_id = await _insert_call(session, values)
    return Refused(call_id, values.get("tenant_id"), reason, transfer_to)


def _repeat(call: Call) -> Admission:
    if call.ended_at is None and call.agent_version_id is not None and call.tenant_id is not None:
        assert call.agent_id is not None and call.agent_version is not None
        return Routed(
            call.id, call.tenant_id, call.agent_id, call.agent_version, call.agent_version_id
        )
    return Refused(call.id, call.tenant_id, call.ended_reason or "ended", call.transfer_to)
