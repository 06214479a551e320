"""An incoming call meets its number: which tenant, whether the tenant has a free line, which
agent version answers. Decided in one write transaction so the concurrency limit holds when
several calls (on several server processes) arrive together."""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.agents.errors import FieldError
from aybiza.errors import Invalid
from aybiza.services.routing import choose_version
from aybiza.store.calls import call_by_sid, number_by_e164
from aybiza.store.models import Agent, AgentVersion, Call, Tenant, utcnow
from aybiza.store.queries import count_live_calls, is_row_id, lock_tenant, tenant_by_name

OUTBOUND_API = "outbound-api"
# The CallSid of a call placed through the API until Twilio's answer names the real one.
PENDING_SID_PREFIX = "pending-"
UNKNOWN_NUMBER = "unknown-number"
CONCURRENCY_LIMIT = "concurrency-limit"
NO_AGENT_VERSION = "no-agent-version"
# What Twilio sends fits easily; anything longer or with control characters is not Twilio.
_FORM_FIELD = re.compile(r"^[^\x00-\x1f\x7f]{1,64}$")


@dataclass(frozen=True, slots=True)
class Routed:
    """The call goes to this agent version; the stream will open the call loop."""

    call_id: str
    tenant_id: str
    agent_id: str
    agent_version: str
    agent_version_id: str


@dataclass(frozen=True, slots=True)
class Refused:
    """The call cannot be served; ``transfer_to`` is the number's fallback, if any."""

    call_id: str
    tenant_id: str | None
    reason: str
    transfer_to: str | None = None


Admission = Routed | Refused


def check_form(form: Mapping[str, str]) -> None:
    """Reject webhook fields no carrier would send (before anything is stored)."""
    problems = [
        FieldError(name, "expected 1-64 printable characters", form.get(name))
        for name in ("CallSid", "From", "To")
        if not _FORM_FIELD.match(form.get(name, ""))
    ]
    direction = form.get("Direction", "inbound")
    if not _FORM_FIELD.match(direction):
        problems.append(FieldError("Direction", "expected a Twilio call direction", direction))
    if problems:
        raise Invalid(problems, code="invalid_webhook")


def platform_side(form: Mapping[str, str]) -> str:
    """The platform's number in a webhook: the dialled one of an incoming call, the caller id
    of a call placed through the REST API (``Direction=outbound-api``)."""
    return form.get("From", "") if form.get("Direction") == OUTBOUND_API else form.get("To", "")


async def placed_call(
    session: AsyncSession, call_id: str | None, form: Mapping[str, str]
) -> Call | None:
    """The call placed through ``POST /v1/calls`` that Twilio's webhook is about (its URL
    carries ``call_id``), taking Twilio's CallSid if the call was still waiting for it."""
    call = await session.get(Call, call_id) if call_id and is_row_id(call_id) else None
    if call is None or call.direction != OUTBOUND_API:
        return None
    if call.call_sid.startswith(PENDING_SID_PREFIX):
        if (call.from_number, call.to_number) != (form.get("From"), form.get("To")):
            return None
        call.call_sid = form["CallSid"]
        await session.flush()
    return call if call.call_sid == form.get("CallSid") else None


async def admit(
    session: AsyncSession,
    form: Mapping[str, str],
    rng: random.Random,
    *,
    operator_tenant: str,
    call_id: str | None = None,
) -> Admission:
    """Record the call and decide who answers it. Twilio retries a webhook that timed out:
    the same CallSid gets the same decision. A call placed through the API (``call_id``) was
    admitted when it was placed. A call to a number no tenant registered is recorded under
    ``operator_tenant`` (the tenant ``AYBIZA_API_KEY`` acts for), whose operator runs the
    webhook it reached."""
    check_form(form)
    call_sid = form["CallSid"]
    existing = await call_by_sid(session, call_sid) or await placed_call(session, call_id, form)
    if existing is not None:
        return _repeat(existing)
    call = Call(
        call_sid=call_sid,
        from_number=form["From"],
        to_number=form["To"],
        direction=form.get("Direction", "inbound"),
        status="ringing",
    )
    number = await number_by_e164(session, platform_side(form))
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
