"""Calls as Twilio sees them: placing outbound calls, their status callbacks, and ending a call
that has not reached its media stream.

An outbound call is recorded first (``direction: outbound-api``, ``status: queued``, counted
against the tenant's concurrency limit) and then placed with ``Url={public}/twilio/voice?
call_id=...``: when the callee answers, Twilio fetches that URL and the call is connected to its
agent exactly like an incoming call (``aybiza.services.admission``). Status callbacks go to
``{public}/twilio/status?call_id=...`` with all four events.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.agents.errors import FieldError
from aybiza.analytics.events import CallEvents
from aybiza.errors import CarrierError, Conflict, Invalid
from aybiza.services.admission import OUTBOUND_API, PENDING_SID_PREFIX, placed_call
from aybiza.services.call_specs import CallCreate
from aybiza.services.routing import choose_version
from aybiza.services.twilio_accounts import STATUS_PATH, VOICE_PATH, TwilioAccounts
from aybiza.store.calls import call_by_sid, number_by_e164
from aybiza.store.database import Database
from aybiza.store.models import Agent, AgentVersion, Call, PhoneNumber, Tenant, new_id, utcnow
from aybiza.store.queries import count_live_calls, is_row_id, lock_tenant
from aybiza.telephony.twilio_rest import TwilioCredentials, TwilioRestError

API_HANGUP = "api-hangup"
# Twilio's progress statuses as this platform's: a call is "in-progress" once its media stream
# runs, so an answered call that is still connecting stays "ringing".
_PROGRESS = {
    "queued": "queued",
    "initiated": "queued",
    "ringing": "ringing",
    "in-progress": "ringing",
}
_RANK = {"queued": 0, "ringing": 1, "in-progress": 2, "completed": 3}
# Twilio's final statuses as ended reasons of a call whose stream never started.
_ENDINGS = {
    "completed": "caller-hangup",
    "busy": "busy",
    "no-answer": "no-answer",
    "failed": "failed",
    "canceled": "canceled",
}
# Twilio error codes about the number called, and about the number called from.
_TO_CODES = (21211, 21214, 21215, 21216, 21217, 21401)
_FROM_CODES = (21210, 21212, 21213)


@dataclass(frozen=True, slots=True)
class _Route:
    number: PhoneNumber
    agent_id: str
    version: AgentVersion
    credentials: TwilioCredentials
    from_field: str


class CarrierCalls:
    """Outbound calls and call progress through Twilio's REST API and callbacks."""

    def __init__(
        self,
        database: Database,
        accounts: TwilioAccounts,
        events: CallEvents,
        rng: random.Random | None = None,
    ) -> None:
        self._database = database
        self._accounts = accounts
        self._events = events
        self._rng = rng if rng is not None else random.Random()

    async def place(self, tenant_id: str, spec: CallCreate) -> str:
        """Record the call, ask Twilio to place it, and return its id. Raises ``Invalid``
        (fields named), ``Conflict`` (``concurrency_limit``) or ``CarrierError``."""
        call_id = new_id()
        async with self._database.writing() as session:
            route = await self._route(session, tenant_id, spec)
            voice = self._accounts.url(VOICE_PATH, route.from_field, call_id=call_id)
            status = self._accounts.url(STATUS_PATH, route.from_field, call_id=call_id)
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
                    phone_number_id=route.number.id,
                    agent_id=route.agent_id,
                    agent_version=route.version.version,
                    agent_version_id=route.version.id,
                    from_number=route.number.e164,
                    to_number=spec.to,
                    direction=OUTBOUND_API,
                    status="queued",
                )
            )
        try:
            placed = await self._accounts.rest.create_call(
                route.credentials,
                to=spec.to,
                from_=route.number.e164,
                url=voice,
                status_callback=status,
            )
        except TwilioRestError as exc:
            await self._forget(call_id)
            field = None
            if exc.code in _TO_CODES:
                field = "to"
            elif exc.code in _FROM_CODES:
                field = route.from_field
            raise CarrierError(
                str(exc), field=field, code="call_failed", twilio_code=exc.code
            ) from exc
        async with self._database.writing() as session:
            call = await session.get(Call, call_id)
            if call is not None and call.call_sid.startswith(PENDING_SID_PREFIX):
                call.call_sid = placed.sid
        return call_id

    async def progress(self, form: Mapping[str, str], call_id: str | None) -> None:
        """A status callback: move the call's status on, and end a call whose stream never
        started (busy, no answer, failed, canceled, or hung up before the agent came on)."""
        ended = False
        async with self._database.writing() as session:
            call = await placed_call(session, call_id, form)
            if call is None and form.get("CallSid"):
                call = await call_by_sid(session, form["CallSid"])
            if call is None or call.ended_at is not None:
                return
            twilio_status = form.get("CallStatus", "")
            if twilio_status in _ENDINGS and call.started_at is None:
                # Twilio's callback for a hang-up the API asked for may arrive before ``end``
                # records it: the call still ended because the API asked.
                requested = call.hangup_requested_at is not None
                _end(call, API_HANGUP if requested else _ENDINGS[twilio_status])
                await self._events.call_ended(session, call.id)
                ended = True
            elif _RANK.get(_PROGRESS.get(twilio_status, ""), -1) > _RANK.get(call.status, 3):
                call.status = _PROGRESS[twilio_status]
        if ended:
            self._events.wake()

    async def end(self, call: Call) -> bool:
        """End a call whose stream has not started, through Twilio; False when no account can
        (no real CallSid yet, no credentials). The call is recorded as ``api-hangup``."""
        if call.call_sid.startswith(PENDING_SID_PREFIX) or call.phone_number_id is None:
            return False
        async with self._database.session() as session:
            number = await session.get(PhoneNumber, call.phone_number_id)
        credentials = self._accounts.for_number(number) if number is not None else None
        if credentials is None:
            return False
        async with self._database.writing() as session:
            row = await session.get(Call, call.id)
            if row is not None and row.hangup_requested_at is None:
                row.hangup_requested_at = utcnow()
        rest = self._accounts.rest
        try:
            dialling = call.direction == OUTBOUND_API and call.status in ("queued", "ringing")
            # ``canceled`` stops a call still ringing; an answered one needs ``completed``.
            result = await rest.update_call(
                credentials, call.call_sid, status="canceled" if dialling else "completed"
            )
            if result.status not in _ENDINGS:
                await rest.update_call(credentials, call.call_sid, status="completed")
        except TwilioRestError as exc:
            if exc.status != 404:
                async with self._database.writing() as session:
                    row = await session.get(Call, call.id)
                    if row is not None and row.ended_at is None:
                        row.hangup_requested_at = None  # Twilio refused: the call goes on
                raise CarrierError(
                    str(exc), field="id", code="hangup_failed", twilio_code=exc.code
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
        elif number.type == "sip_trunk":
            problems.append(
                FieldError(from_field, "calls are placed through Twilio: use a Twilio number")
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
        credentials = self._accounts.for_number(number)
        if credentials is None:
            raise Invalid(
                [
                    FieldError(
                        from_field,
                        "no Twilio account can place calls from this number: import it with "
                        "twilio_account_sid and twilio_auth_token, or configure the platform's "
                        "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN",
                    )
                ]
            )
        return _Route(number, agent.id, version, credentials, from_field)

    async def _forget(self, call_id: str) -> None:
        """Twilio refused the call: it was never placed, so it is not kept."""
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


def _end(call: Call, reason: str) -> None:
    call.status, call.ended_reason, call.ended_at = "completed", reason, utcnow()
