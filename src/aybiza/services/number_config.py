"""What the configuration says about a dialled number and a call's agent version, read through
the process's configuration cache (``aybiza.store.config_cache``): a call to a number whose
configuration was read in the last few seconds costs no query. Each read returns immutable
snapshots, never ORM rows, so it can be shared by every call that asks."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.services.routing import choose_version
from aybiza.store.calls import number_by_e164
from aybiza.store.database import Database
from aybiza.store.models import Agent, AgentVersion, Tenant


@dataclass(frozen=True, slots=True)
class NumberConfig:
    """A registered number as routing needs it (a snapshot of its ``PhoneNumber`` row and of
    its agent's published version)."""

    id: str
    tenant_id: str
    agent_id: str
    e164: str
    pinned_version: str | None
    version_weights: tuple[tuple[str, int], ...]
    fallback_number: str | None
    # The agent's published version; None also when the agent no longer exists.
    published_version: str | None
    agent_exists: bool


@dataclass(frozen=True, slots=True)
class VersionRef:
    """The agent version a call runs: its row id and semver."""

    id: str
    version: str


@dataclass(frozen=True, slots=True)
class NumberRouting:
    """A dialled number and the agent version a call to it runs now (None when the agent has no
    version to run)."""

    number: NumberConfig
    version: VersionRef | None


@dataclass(frozen=True, slots=True)
class VersionConfig:
    """What starting a call needs of its agent version (``CallAssembly.prepare``)."""

    id: str
    agent_id: str
    version: str
    config: Any
    agent_name: str


async def number_routing(database: Database, e164: str, rng: random.Random) -> NumberRouting | None:
    """The number ``e164`` and the version its call runs (pinned, A/B split or published);
    None for a number no tenant registered. Read from the cache, else from the read replica
    when there is one."""
    number = await database.read_configuration(
        lambda session: _number_config(session, e164), key=("number", e164)
    )
    if number is None:
        return None
    version = choose_version(
        pinned=number.pinned_version,
        weights=dict(number.version_weights),
        published=number.published_version,
        rng=rng,
    )
    if not number.agent_exists or version is None:
        return NumberRouting(number, None)
    ref = await database.read_configuration(
        lambda session: _version_ref(session, number.agent_id, version),
        key=("version-ref", number.agent_id, version),
    )
    return NumberRouting(number, ref)


async def version_config(
    database: Database, version_id: str, primary: AsyncSession
) -> VersionConfig | None:
    """The agent version ``version_id`` with its agent's name; None when either is gone. A
    version the replica has not seen yet (created a moment ago on the primary: a browser test
    call, an outbound call) is read in ``primary``, a session on the primary."""
    found = await database.read_configuration(
        lambda session: _version_config(session, version_id), key=("version", version_id)
    )
    return found if found is not None else await _version_config(primary, version_id)


async def compliance_mode(database: Database, tenant_id: str) -> str:
    """The tenant's compliance mode (``none`` for a tenant that no longer exists)."""
    return await database.read_configuration(
        lambda session: _compliance_mode(session, tenant_id), key=("compliance", tenant_id)
    )


async def _number_config(session: AsyncSession, e164: str) -> NumberConfig | None:
    number = await number_by_e164(session, e164)
    if number is None:
        return None
    agent = await session.get(Agent, number.agent_id)
    return NumberConfig(
        id=number.id,
        tenant_id=number.tenant_id,
        agent_id=number.agent_id,
        e164=number.e164,
        pinned_version=number.agent_version,
        version_weights=tuple(
            (str(name), int(weight)) for name, weight in (number.version_weights or {}).items()
        ),
        fallback_number=number.fallback_number,
        published_version=agent.published_version if agent is not None else None,
        agent_exists=agent is not None,
    )


async def _version_ref(session: AsyncSession, agent_id: str, version: str) -> VersionRef | None:
    row = (
        await session.execute(
            select(AgentVersion.id, AgentVersion.version).where(
                AgentVersion.agent_id == agent_id, AgentVersion.version == version
            )
        )
    ).first()
    return VersionRef(row.id, row.version) if row is not None else None


async def _version_config(session: AsyncSession, version_id: str) -> VersionConfig | None:
    row = (
        await session.execute(
            select(AgentVersion.agent_id, AgentVersion.version, AgentVersion.config, Agent.name)
            .join(Agent, Agent.id == AgentVersion.agent_id)
            .where(AgentVersion.id == version_id)
        )
    ).first()
    if row is None:
        return None
    return VersionConfig(version_id, row.agent_id, row.version, row.config, row.name)


async def _compliance_mode(session: AsyncSession, tenant_id: str) -> str:
    mode = (
        await session.execute(select(Tenant.compliance_mode).where(Tenant.id == tenant_id))
    ).scalar_one_or_none()
    return mode or "none"
