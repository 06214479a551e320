"""Phone numbers: register, route to an agent (pinned, weighted or published version), change,
release. Carrier work goes through a ``NumberProvisioner``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.agents.errors import FieldError
from aybiza.errors import CarrierError, Conflict, Invalid, NotFound, ServiceError
from aybiza.security.secretbox import SecretBox
from aybiza.services.agents import agent_repository
from aybiza.services.number_specs import NumberCreate, NumberUpdate, SipTrunk
from aybiza.store.calls import number_by_e164
from aybiza.store.database import Database
from aybiza.store.models import Agent, AgentVersion, PhoneNumber, utcnow
from aybiza.store.paging import Page
from aybiza.store.tenant_repository import TenantRepository
from aybiza.telephony.provisioning import (
    IMPORTED,
    NumberProvisioner,
    NumberRequest,
    ProvisioningError,
)
from aybiza.telephony.sip.trunk_gate import CHALLENGE_ALGORITHMS

log = structlog.get_logger(__name__)
# What an update merges with the fields sent before checking the whole number again.
_ROUTING_FIELDS = (
    "type",
    "agent_id",
    "agent_version",
    "version_weights",
    "region",
    "fallback_region",
    "fallback_number",
    "sip",
)


class NumberService:
    """Business rules for phone numbers; every method is scoped to one tenant."""

    def __init__(self, database: Database, box: SecretBox, provisioner: NumberProvisioner) -> None:
        self._database = database
        self._box = box
        self._provisioner = provisioner
        self._numbers = TenantRepository(
            database,
            PhoneNumber,
            lambda ref: NotFound(f"no phone number {ref!r}", field="id"),
        )
        self._agents = agent_repository(database)

    async def create(self, tenant_id: str, spec: NumberCreate) -> PhoneNumber:
        """Validate, provision at the carrier, then store the number."""
        async with self._database.session() as session:
            await _check(
                session,
                self._agents,
                tenant_id,
                spec.model_dump(),
                sip_required=True,
                more=_carrier_fields(spec),
            )
            if spec.number is not None and await number_by_e164(session, spec.number) is not None:
                raise _taken(spec.number)
        sip = spec.sip.model_dump() if spec.sip else None
        request = NumberRequest(
            tenant_id,
            spec.number,
            spec.type,
            spec.region,
            sip,
            area_code=spec.area_code,
            country=spec.country or "US",
            twilio_account_sid=spec.twilio_account_sid,
            twilio_auth_token=spec.twilio_auth_token,
        )
        try:
            provisioned = await self._provisioner.provision(request)
        except ProvisioningError as exc:
            raise _carrier_failed(exc) from exc
        e164 = provisioned.e164 or spec.number
        assert e164 is not None, "the provisioner names the number it chose"
        row = PhoneNumber(
            tenant_id=tenant_id,
            e164=e164,
            type=spec.type,
            agent_id=spec.agent_id,
            agent_version=spec.agent_version,
            version_weights=spec.version_weights,
            region=spec.region,
            fallback_region=spec.fallback_region,
            fallback_number=spec.fallback_number,
            provisioning=provisioned.status,
            provider_data=provisioned.provider_data,
        )
        self._set_sip(row, spec.sip)
        try:
            async with self._database.writing() as session:
                # Re-checked: the agent may have changed while the carrier was working.
                await _check(session, self._agents, tenant_id, spec.model_dump(), sip_required=True)
                session.add(row)
        except (IntegrityError, ServiceError) as exc:
            try:
                await self._provisioner.release(row)
            except ProvisioningError:
                log.warning("numbers.rollback_release_failed", number=e164, exc_info=True)
            if isinstance(exc, IntegrityError):
                raise _taken(e164) from exc
            raise
        return row

    async def get(self, tenant_id: str, number_id: str) -> PhoneNumber:
        """One number of the tenant."""
        return await self._numbers.fetch(tenant_id, number_id)

    async def list(self, tenant_id: str, *, cursor: str | None, limit: int) -> Page[PhoneNumber]:
        """The tenant's numbers, newest first."""
        return await self._numbers.list(tenant_id, cursor=cursor, limit=limit)

    async def update(self, tenant_id: str, number_id: str, patch: NumberUpdate) -> PhoneNumber:
        """Apply the fields sent; the merged number must still be valid as a whole."""
        given = patch.model_dump(include=patch.model_fields_set)
        async with self._database.writing() as session:
            row = await self._numbers.get(session, tenant_id, number_id)
            problems = [
                FieldError(name, "cannot change; delete the number and register it again", value)
                for name, value, current in (
                    ("number", given.get("number"), row.e164),
                    ("type", given.get("type"), row.type),
                )
                if value is not None and value != current
            ]
            problems += [
                FieldError(name, "must not be null", None)
                for name in ("agent_id", "region")
                if name in given and given[name] is None
            ]
            if patch.twilio_auth_token is not None and row.provisioning != IMPORTED:
                problems.append(
                    FieldError(
                        "twilio_auth_token",
                        "only twilio numbers imported with their account's credentials have one",
                    )
                )
            if problems:
                raise Invalid(problems)
            kept = ("number", "type", "twilio_auth_token")
            merged = _current(row) | {k: v for k, v in given.items() if k not in kept}
            if "agent_id" in given and "agent_version" not in given:
                # A pin or split names versions of the old agent: a new agent starts unpinned.
                merged["agent_version"] = merged["version_weights"] = None
            await _check(session, self._agents, tenant_id, merged, sip_required="sip" in given)
            for name in ("agent_id", "agent_version", "version_weights", "region"):
                setattr(row, name, merged[name])
            row.fallback_region = merged["fallback_region"]
            row.fallback_number = merged["fallback_number"]
            if "sip" in given:
                self._set_sip(row, patch.sip)
            if patch.twilio_auth_token is not None:
                data = dict(row.provider_data or {})
                data["auth_token_sealed"] = self._box.seal(patch.twilio_auth_token)
                row.provider_data = data
            row.updated_at = utcnow()
            return row

    async def delete(self, tenant_id: str, number_id: str) -> None:
        """Release the number at the carrier, then forget it (past calls keep their number)."""
        row = await self._numbers.fetch(tenant_id, number_id)
        try:
            await self._provisioner.release(row)
        except ProvisioningError as exc:
            raise _carrier_failed(exc) from exc
        async with self._database.writing() as session:
            current = await session.get(PhoneNumber, row.id)
            if current is not None:
                await session.delete(current)

    def sip_password(self, row: PhoneNumber) -> str | None:
        """The trunk password in clear, for the SIP edge that authenticates the trunk."""
        return None if row.sip_password_sealed is None else self._box.open(row.sip_password_sealed)

    def _set_sip(self, row: PhoneNumber, sip: SipTrunk | None) -> None:
        if sip is None:
            row.sip, row.sip_password_sealed = None, None
            return
        auth = sip.auth
        row.sip = {
            "gateways": list(sip.gateways),
            "transport": sip.transport,
            "allowed_cidrs": list(sip.allowed_cidrs),
            "register": sip.register,
            "auth": None
            if auth is None
            else {"username": auth.username, "algorithms": list(auth.algorithms)},
            "region": sip.region,
        }
        row.sip_password_sealed = None if auth is None else self._box.seal(auth.password)


def sip_view(row: PhoneNumber) -> dict[str, Any] | None:
    """The trunk settings as the API shows them: the password only as ``password_set``."""
    if row.sip is None:
        return None
    auth = row.sip.get("auth")
    return {
        "gateways": row.sip.get("gateways", []),
        "transport": row.sip.get("transport", "udp"),
        "allowed_cidrs": row.sip.get("allowed_cidrs", []),
        "register": bool(row.sip.get("register", False)),
        "auth": None
        if auth is None
        else {
            "username": auth["username"],
            "algorithms": auth.get("algorithms", list(CHALLENGE_ALGORITHMS)),
            "password_set": row.sip_password_sealed is not None,
        },
        "region": row.sip.get("region"),
    }


async def _check(
    session: AsyncSession,
    agents: TenantRepository[Agent],
    tenant_id: str,
    spec: dict[str, Any],
    *,
    sip_required: bool,
    more: Sequence[FieldError] = (),
) -> None:
    """The cross-field rules, with every problem (and ``more`` found by the caller) reported
    at once."""
    problems: list[FieldError] = list(more)
    pin, weights = spec.get("agent_version"), spec.get("version_weights")
    if pin is not None and weights is not None:
        problems.append(
            FieldError("version_weights", "give agent_version or version_weights, not both")
        )
    if weights is not None and sum(weights.values()) <= 0:
        problems.append(FieldError("version_weights", "at least one weight must be above 0"))
    if spec.get("fallback_region") is not None and spec["fallback_region"] == spec["region"]:
        problems.append(FieldError("fallback_region", "must differ from region", spec["region"]))
    if spec["type"] == "sip_trunk" and sip_required and spec.get("sip") is None:
        problems.append(FieldError("sip", "required for a sip_trunk number (gateways, auth)"))
    if spec["type"] != "sip_trunk" and spec.get("sip") is not None:
        problems.append(FieldError("sip", "only sip_trunk numbers have SIP trunk settings"))
    agent = await agents.find(session, tenant_id, spec["agent_id"])
    if agent is None:
        problems.append(FieldError("agent_id", "no agent with this id", spec["agent_id"]))
    else:
        wanted = ([pin] if pin is not None else []) + sorted(weights or {})
        known = set(
            (
                await session.execute(
                    select(AgentVersion.version).where(
                        AgentVersion.agent_id == agent.id, AgentVersion.version.in_(wanted)
                    )
                )
            ).scalars()
        )
        field = "agent_version" if pin is not None else "version_weights"
        problems += [
            FieldError(
                field if pin is not None else f"{field}.{v}", "the agent has no such version", v
            )
            for v in wanted
            if v not in known
        ]
    if problems:
        raise Invalid(problems)


def _carrier_fields(spec: NumberCreate) -> list[FieldError]:
    """Which fields each type takes for its carrier work (checked on create only)."""
    problems: list[FieldError] = []
    managed, imported = spec.type == "managed", spec.type == "twilio"
    if spec.number is None and not (managed and spec.area_code is not None):
        needed = "required (or, for a managed number, an area_code to buy one in)"
        problems.append(FieldError("number", needed if managed else "required"))
    if spec.area_code is not None and (not managed or spec.number is not None):
        problems.append(
            FieldError("area_code", "only for a managed number bought without a given number")
        )
    if spec.country is not None and spec.area_code is None:
        problems.append(FieldError("country", "only with area_code", spec.country))
    sid, token = spec.twilio_account_sid, spec.twilio_auth_token
    for name, value, other, other_value in (
        ("twilio_account_sid", sid, "twilio_auth_token", token),
        ("twilio_auth_token", token, "twilio_account_sid", sid),
    ):
        if value is not None and not imported:
            problems.append(FieldError(name, "only twilio numbers take a customer's credentials"))
        elif value is None and imported and other_value is not None:
            problems.append(FieldError(name, f"required with {other}"))
    return problems


def _carrier_failed(exc: ProvisioningError) -> CarrierError:
    return CarrierError(
        str(exc), field=exc.field, code="provisioning_failed", carrier_code=exc.carrier_code
    )


def _current(row: PhoneNumber) -> dict[str, Any]:
    return {name: getattr(row, name) for name in _ROUTING_FIELDS}


def _taken(e164: str) -> Conflict:
    # Numbers are unique across the platform, so this is the one answer that can concern
    # another tenant's row: it says only that the number is unavailable, as a carrier would.
    return Conflict(
        f"{e164} is not available on this platform", field="number", code="number_unavailable"
    )
