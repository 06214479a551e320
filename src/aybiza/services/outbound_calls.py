"""Calls before their media: placing outbound calls through the number's carrier, the
carrier's progress reports, and ending a call that has not reached its media.

An outbound call is recorded first (``direction: outbound-api``, ``status: queued``, counted
against the tenant's concurrency limit) and then placed by the ``Carrier`` of its number: when
the callee answers, the carrier connects the call to its agent exactly like an incoming call
(``aybiza.services.admission``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.agents.errors import FieldError
from aybiza.agents.voicemail import CARRIER_TUNING
from aybiza.analytics.events import CallEvents
from aybiza.errors import CarrierError, Conflict, Invalid, Unavailable
from aybiza.services.admission import PENDING_SID_PREFIX, placed_call
from aybiza.services.call_specs import CallCreate
from aybiza.services.drain import Drain
from aybiza.services.routing import choose_version
from aybiza.store.calls import call_by_sid, number_by_e164
from aybiza.store.database import Database
from aybiza.store.models import Agent, AgentVersion, Call, PhoneNumber, Tenant, new_id, utcnow
from aybiza.store.queries import count_live_calls, is_row_id, lock_tenant
from aybiza.telephony.carrier import (
    OUTBOUND_API,
    CallProgress,
    Carrier,
    CarrierRefused,
    Dial,
    MachineDetection,
    ProgressStatus,
)

API_HANGUP = "api-hangup"
# A carrier's progress as this platform's status: a call is "in-progress" once its media runs,
# so an answered call that is still connecting stays "ringing".
_PROGRESS: dict[ProgressStatus, str] = {
    "queued": "queued",
    "ringing": "ringing",
    "answered": "ringing",
}
_RANK = {"queued": 0, "ringing": 1, "in-progress": 2, "completed": 3}
# Final progress as the ended reason of a call whose media never started.
_ENDINGS: dict[ProgressStatus, str] = {
    "completed": "caller-hangup",
    "busy": "busy",
    "no-answer": "no-answer",
    "failed": "failed",
    "canceled": "canceled",
}


@dataclass(frozen=True, slots=True)
class _Route:
    number: PhoneNumber
    agent_id: str
    version: AgentVersion
    carrier: Carrier
    from_field: str


class OutboundCalls:
    """Outbound calls, and calls' progress before their media, through the numbers' carriers."""

    def __init__(
        self,
        database: Database,
        carriers: Sequence[Carrier],
        events: CallEvents,
        rng: random.Random | None = None,
        drain: Drain | None = None,
    ) -> None:
        self._drain = drain
        self._database = database
        self._carriers = tuple(carriers)
        self._events = events
        self._rng = rng if rng is not None else random.Random()

    async def place(
        self,
        tenant_id: str,
        spec: CallCreate,
        *,
        call_id: str | None = None,
        custom_parameters: dict[str, str] | None = None,
    ) -> str:
        """Record the call, ask the number's carrier to place it, and return its id. Raises
        ``Invalid`` (fields named), ``Conflict`` (``concurrency_limit``) or ``CarrierError``.
        ``call_id`` is the id to give the call (a campaign chooses it before dialling, so a
        restart can tell whether the call was placed); ``custom_parameters`` go to the agent."""
        if self._drain is not None and self._drain.draining:
            raise Unavailable("this server is shutting down: place the call on another server")
        call_id = call_id or new_id()
        async with self._database.writing() as session:
            route = await self._route(session, tenant_id, spec)
            await lock_tenant(session, tenant_id)
            tenant = await session.get(Tenant, tenant_id)
            assert tenant is not None, "keys belong to tenants"
            if await count_live_calls(session, tenant_id) >= tenant.max_concurrent_calls:
                raise Conflict(
                    f"the tenant is at its limit of {tenant.max_concurrent_calls} concurrent calls",
                    code="concurrency_limit",
                )
            session.add(
                Call(
                    id=call_id,
                    tenant_id=tenant_id,
                    call_sid=PENDING_SID_PREFIX + call_id,
                    carrier=route.carrier.name,
                    phone_number_id=route.number.id,
                    agent_id=route.agent_id,
                    agent_version=route.version.version,
                    agent_version_id=route.version.id,
                    from_number=route.number.e164,
                    to_number=spec.to,
                    direction=OUTBOUND_API,
                    status="queued",
                    custom_parameters=custom_parameters or None,
                )
            )
        dial = Dial(
            call_id=call_id,
            to=spec.to,
            number=route.number,
            field=route.from_field,
            machine_detection=_machine_detection(route.version.config.get("voicemail") or {}),
            machine_detection_tuning=_machine_detection_tuning(
                route.version.config.get("voicemail") or {}
            ),
        )
        try:
            placed_sid = await route.carrier.place(dial)
        except (CarrierRefused, Invalid) as exc:
            await self._forget(call_id)
            if isinstance(exc, Invalid):
                raise
            field = route.from_field if exc.field == "from" else exc.field
            raise CarrierError(
                exc.message,
                field=field,
                code="call_failed",
                carrier=route.carrier.name,
                carrier_code=exc.carrier_code,
            ) from exc
        async with self._database.writing() as session:
            call = await session.get(Call, call_id)
            if call is not None and call.call_sid.startswith(PENDING_SID_PREFIX):
                call.call_sid = placed_sid
        return call_id

    async def check_route(self, tenant_id: str, spec: CallCreate) -> str:
        """The id of the number ``spec`` would call from; ``Invalid`` naming the bad fields
        (a campaign checks its number and agent once, before any call)."""
        async with self._database.session() as session:
            route = await self._route(session, tenant_id, spec)
        return route.number.id

    async def progress(self, update: CallProgress) -> None:
        """A carrier's progress report: move the call's status on, and end a call whose media
        never started (busy, no answer, failed, canceled, or hung up before the agent came on)."""
        ended = False
        sid = update.carrier_call_id
        async with self._database.writing() as session:
            call = await placed_call(
                session, update.call_id, sid, update.from_number, update.to_number
            )
            if call is None and sid:
                call = await call_by_sid(session, sid)
            if call is None or call.ended_at is not None:
                return
            status = update.status
            if status in _ENDINGS and call.started_at is None:
                # The carrier's report of a hang-up the API asked for may arrive before ``end``
                # records it: the call still ended because the API asked.
                requested = call.hangup_requested_at is not None
                _end(call, API_HANGUP if requested else _ENDINGS[status])
                if update.detail:
                    call.stats = {**(call.stats or {}), "carrier_response": update.detail}
                await self._events.call_ended(session, call.id)
                ended = True
            elif status in _PROGRESS and _RANK[_PROGRESS[status]] > _RANK.get(call.status, 3):
                call.status = _PROGRESS[status]
        if ended:
            self._events.wake()

    async def end(self, call: Call) -> bool:
        """End a call whose media has not started, through its carrier; False when no carrier
        can (no carrier call id yet, no credentials). The call is recorded as ``api-hangup``."""
        if call.call_sid.startswith(PENDING_SID_PREFIX) or call.phone_number_id is None:
            return False
        async with self._database.session() as session:
            number = await session.get(PhoneNumber, call.phone_number_id)
        carrier = self._carrier(number) if number is not None else None
        if number is None or carrier is None or carrier.origin_problem(number) is not None:
            return False
        async with self._database.writing() as session:
            row = await session.get(Call, call.id)
            if row is not None and row.hangup_requested_at is None:
                row.hangup_requested_at = utcnow()
        try:
            dialling = call.direction == OUTBOUND_API and call.status in ("queued", "ringing")
            await carrier.hang_up(number, call.call_sid, ringing=dialling)
        except CarrierRefused as exc:
            if not exc.gone:
                async with self._database.writing() as session:
                    row = await session.get(Call, call.id)
                    if row is not None and row.ended_at is None:
                        row.hangup_requested_at = None  # the carrier refused: the call goes on
                raise CarrierError(
                    exc.message,
                    field="id",
                    code="hangup_failed",
                    carrier=carrier.name,
                    carrier_code=exc.carrier_code,
                ) from exc
        async with self._database.writing() as session:
            row = await session.get(Call, call.id)
            if row is not None and row.ended_at is None:
                _end(row, API_HANGUP)
                await self._events.call_ended(session, row.id)
        self._events.wake()
        return True

    async def _route(self, session: AsyncSession, tenant_id: str, spec: CallCreate) -> _Route:
        """The number, agent version and account of a new call; every bad field at once."""
        problems: list[FieldError] = []
        from_field = "from_number_id" if spec.from_ is None else "from"
        number = await _tenant_number(session, tenant_id, spec)
        if spec.from_number_id is not None and spec.from_ is not None:
            problems.append(FieldError("from", "give from_number_id or from, not both"))
        elif spec.from_number_id is None and spec.from_ is None:
            problems.append(FieldError(from_field, "required: the tenant's number to call from"))
        elif number is None:
            given = spec.from_ or spec.from_number_id
            problems.append(FieldError(from_field, "no phone number of this tenant", given))
        elif self._carrier(number) is None:
            problems.append(
                FieldError(from_field, f"no carrier places calls from {number.type} numbers yet")
            )
        agent_id = spec.agent_id or (number.agent_id if number is not None else None)
        agent = await session.get(Agent, agent_id) if agent_id and is_row_id(agent_id) else None
        if agent is None or agent.tenant_id != tenant_id or agent.deleted_at is not None:
            if spec.agent_id is not None:
                problems.append(FieldError("agent_id", "no agent with this id", spec.agent_id))
            raise Invalid(problems or [FieldError(from_field, "the number has no agent")])
        version = await _version(session, agent, number, spec, self._rng)
        if version is None:
            problems.append(
                FieldError("agent_version", "the agent has no such version", spec.agent_version)
                if spec.agent_version is not None
                else FieldError("agent_id", "the agent has no published version", agent.id)
            )
        if problems or number is None or version is None:
            raise Invalid(problems)
        carrier = self._carrier(number)
        assert carrier is not None, "numbers no carrier serves were refused above"
        problem = carrier.origin_problem(number)
        if problem is not None:
            raise Invalid([FieldError(from_field, problem)])
        return _Route(number, agent.id, version, carrier, from_field)

    def _carrier(self, number: PhoneNumber) -> Carrier | None:
        return next((c for c in self._carriers if c.carries(number)), None)

    async def _forget(self, call_id: str) -> None:
        """The carrier refused the call: it was never placed, so it is not kept."""
        async with self._database.writing() as session:
            call = await session.get(Call, call_id)
            if call is not None:
                await session.delete(call)


async def _tenant_number(
    session: AsyncSession, tenant_id: str, spec: CallCreate
) -> PhoneNumber | None:
    if spec.from_number_id is not None:
        ref = spec.from_number_id
        number = await session.get(PhoneNumber, ref) if is_row_id(ref) else None
    else:
        number = await number_by_e164(session, spec.from_) if spec.from_ is not None else None
    return number if number is not None and number.tenant_id == tenant_id else None


async def _version(
    session: AsyncSession,
    agent: Agent,
    number: PhoneNumber | None,
    spec: CallCreate,
    rng: random.Random,
) -> AgentVersion | None:
    """The asked version; else the number's routing when it is the number's agent; else the
    agent's published version."""
    if spec.agent_version is not None:
        wanted: str | None = spec.agent_version
    elif number is not None and number.agent_id == agent.id:
        wanted = choose_version(
            pinned=number.agent_version,
            weights=number.version_weights,
            published=agent.published_version,
            rng=rng,
        )
    else:
        wanted = agent.published_version
    if wanted is None:
        return None
    rows = await session.execute(
        select(AgentVersion).where(
            AgentVersion.agent_id == agent.id, AgentVersion.version == wanted
        )
    )
    return rows.scalars().first()


def _machine_detection(voicemail: dict[str, Any]) -> MachineDetection | None:
    """What the carrier is asked to detect for the agent's ``voicemail`` block: a message to
    leave needs the machine's greeting to end; hanging up needs only who answered."""
    if voicemail.get("detection") != "carrier":
        return None
    return "message_end" if voicemail.get("action") == "leave_message" else "answer"


def _machine_detection_tuning(voicemail: dict[str, Any]) -> dict[str, int]:
    """The agent's tuning of the carrier's detection (validated when the version was saved)."""
    if voicemail.get("detection") != "carrier":
        return {}
    return {
        name: value
        for name in CARRIER_TUNING
        if isinstance(value := voicemail.get(name), int) and not isinstance(value, bool)
    }


def _end(call: Call, reason: str) -> None:
    call.status, call.ended_reason, call.ended_at = "completed", reason, utcnow()
