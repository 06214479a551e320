"""Agents and their immutable versions: create, change, publish, roll back, delete.

Version rule: every change that alters the configuration stores a new version. The ``version``
the author sends is used when it is higher than every version the agent already has; otherwise
the platform assigns the highest existing version with its patch number raised (so a change that
forgot to bump it still gets a new version, and an old number is never reused). Sending the
same configuration as the latest version again changes nothing. The first version is published
when the agent is created; later versions go live only when published, and for an agent whose
eval suite is required only once a passing run of it is recorded (``services.eval_gate``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.agents.compliance import compliance_problems
from aybiza.agents.errors import AgentConfigError, FieldError
from aybiza.agents.schema import AgentConfig, validate_agent_config
from aybiza.errors import Conflict, Invalid, NotFound, invalid
from aybiza.services.edge_events import EdgeEvents, agent_published
from aybiza.services.eval_gate import require_passing_eval
from aybiza.services.semver import bump_patch, highest, version_key
from aybiza.store.database import Database
from aybiza.store.models import Agent, AgentVersion, PhoneNumber, Tenant, utcnow
from aybiza.store.paging import Page
from aybiza.store.tenant_repository import TenantRepository

MAX_VERSION_CHARS = 64
# What a stored version can look like; anything else is answered 404 without a query.
_VERSION_CHARS = re.compile(r"^[0-9A-Za-z.+-]{1,64}$")


@dataclass(frozen=True, slots=True)
class AgentState:
    """An agent with its latest version (what was last written)."""

    agent: Agent
    latest: AgentVersion


def agent_repository(database: Database) -> TenantRepository[Agent]:
    """The tenants' agents; a deleted agent is missing like one that never existed."""
    return TenantRepository(
        database,
        Agent,
        lambda ref: NotFound(f"no agent {ref!r}", field="agent_id"),
        deleted_at=Agent.deleted_at,
    )


class AgentService:
    """Business rules for agents; every method is scoped to one tenant."""

    def __init__(
        self,
        database: Database,
        engine_check: Callable[[AgentConfig], list[FieldError]] | None = None,
        edge: EdgeEvents | None = None,
    ) -> None:
        self._database = database
        # Told of every publish, so the edge's cached configuration follows (docs/edge.md).
        self._edge = edge
        self._agents = agent_repository(database)
        self._versions = TenantRepository(
            database,
            AgentVersion,
            lambda ref: NotFound(f"no agent version {ref!r}", field="version"),
        )
        # Engines the agent forces whose credentials this server lacks (EngineRegistry.check).
        self._engine_check = engine_check

    def _checked(self, body: object) -> tuple[dict[str, Any], AgentConfig]:
        document, config = checked_agent(body)
        problems = self._engine_check(config) if self._engine_check is not None else []
        if problems:
            raise Invalid(problems, code="invalid_agent")
        return document, config

    async def create(self, tenant_id: str, body: object) -> AgentState:
        """Validate and store a new agent; its first version is published at once."""
        document, config = self._checked(body)
        async with self._database.writing() as session:
            await require_compliant(session, tenant_id, config)
            return await insert_agent(session, tenant_id, document, config)

    async def update(
        self, tenant_id: str, agent_id: str, body: object, *, publish: bool = False
    ) -> AgentState:
        """Store a changed configuration as a new version (see the module's version rule)."""
        document, config = self._checked(body)
        async with self._database.writing() as session:
            agent = await self._agents.get(session, tenant_id, agent_id)
            versions = await _versions(session, agent.id)
            latest = next(v for v in versions if v.version == agent.latest_version)
            if _same_config(latest.config, document) and (
                "version" not in document or document["version"] == latest.version
            ):
                row = latest
            else:
                number = _next_version(config.version, "version" in document, versions)
                row = AgentVersion(
                    tenant_id=tenant_id,
                    agent_id=agent.id,
                    version=number,
                    config={**document, "version": number},
                )
                session.add(row)
                await session.flush()
                agent.latest_version = number
                agent.name = config.name
            agent.updated_at = utcnow()
            if publish:
                await require_compliant(session, tenant_id, config)
                await require_passing_eval(session, agent, row.version)
                agent.published_version_id, agent.published_version = row.id, row.version
            state = AgentState(agent=agent, latest=row)
        if publish:
            self._published(tenant_id, agent.id, row.version)
        return state

    async def get(self, tenant_id: str, agent_id: str) -> AgentState:
        """An agent with its latest version."""
        async with self._database.session() as session:
            agent = await self._agents.get(session, tenant_id, agent_id)
            return AgentState(agent, await version_row(session, agent, agent.latest_version))

    async def list(self, tenant_id: str, *, cursor: str | None, limit: int) -> Page[Agent]:
        """The tenant's agents, newest first."""
        return await self._agents.list(tenant_id, cursor=cursor, limit=limit)

    async def delete(self, tenant_id: str, agent_id: str) -> None:
        """Remove an agent (its versions stay for past calls); refused while a number routes
        to it."""
        async with self._database.writing() as session:
            agent = await self._agents.get(session, tenant_id, agent_id)
            numbers = (
                (
                    await session.execute(
                        select(PhoneNumber.e164).where(PhoneNumber.agent_id == agent.id)
                    )
                )
                .scalars()
                .all()
            )
            if numbers:
                raise Conflict(
                    f"phone numbers still route to this agent ({', '.join(numbers)}); point "
                    "them at another agent or delete them first",
                    field="agent_id",
                    code="agent_in_use",
                )
            await self._agents.remove(session, agent)
        self._published(tenant_id, agent_id, None)

    async def versions(
        self, tenant_id: str, agent_id: str, *, cursor: str | None, limit: int
    ) -> tuple[Agent, Page[AgentVersion]]:
        """The agent's versions, newest first."""
        async with self._database.session() as session:
            agent = await self._agents.get(session, tenant_id, agent_id)
            page = await self._versions.page(
                session,
                tenant_id,
                AgentVersion.agent_id == agent.id,
                cursor=cursor,
                limit=limit,
            )
            return agent, page

    async def version(
        self, tenant_id: str, agent_id: str, version: str
    ) -> tuple[Agent, AgentVersion]:
        """One version of the agent."""
        async with self._database.session() as session:
            agent = await self._agents.get(session, tenant_id, agent_id)
            return agent, await version_row(session, agent, version, field=None)

    async def publish(self, tenant_id: str, agent_id: str, version: str) -> AgentState:
        """Make ``version`` the live one (rolling back is publishing an earlier version); an
        agent whose eval suite is required needs a passing run of it for ``version`` first."""
        async with self._database.writing() as session:
            agent = await self._agents.get(session, tenant_id, agent_id)
            row = await version_row(session, agent, version)
            await require_compliant(session, tenant_id, validate_agent_config(row.config))
            await require_passing_eval(session, agent, row.version)
            agent.published_version_id, agent.published_version = row.id, row.version
            agent.updated_at = utcnow()
            state = AgentState(agent, await version_row(session, agent, agent.latest_version))
        self._published(tenant_id, agent.id, row.version)
        return state

    async def published(self, tenant_id: str, agent_id: str) -> tuple[Agent, AgentVersion]:
        """The version incoming calls run (numbers with a pin or split excepted)."""
        async with self._database.session() as session:
            agent = await self._agents.get(session, tenant_id, agent_id)
            if agent.published_version is None:
                raise NotFound("the agent has no published version", field="agent_id")
            return agent, await version_row(session, agent, agent.published_version, field=None)

    def _published(self, tenant_id: str, agent_id: str, version: str | None) -> None:
        if self._edge is not None:
            self._edge.send(agent_published(tenant_id, agent_id, version))


async def require_compliant(session: AsyncSession, tenant_id: str, config: AgentConfig) -> None:
    """Refuse (422 naming the field) a configuration the tenant's compliance mode forbids."""
    tenant = await session.get(Tenant, tenant_id)
    problems = compliance_problems(config, tenant.compliance_mode) if tenant is not None else []
    if problems:
        raise Invalid(problems, code="compliance_mode")


def checked_agent(body: object) -> tuple[dict[str, Any], AgentConfig]:
    """The agent JSON and its validated form; ``Invalid`` naming every bad field otherwise."""
    if not isinstance(body, Mapping):
        raise invalid("", "expected a JSON object: the agent configuration", type(body).__name__)
    document = dict(body)
    problems = list(_nul_characters(document, ""))
    if problems:
        raise Invalid(problems, code="invalid_agent")
    try:
        config = validate_agent_config(document)
    except AgentConfigError as exc:
        raise Invalid(exc.errors, code="invalid_agent") from exc
    if len(config.version) > MAX_VERSION_CHARS:
        raise Invalid(
            [FieldError("version", f"at most {MAX_VERSION_CHARS} characters", config.version)],
            code="invalid_agent",
        )
    return document, config


async def insert_agent(
    session: AsyncSession, tenant_id: str, document: dict[str, Any], config: AgentConfig
) -> AgentState:
    """Store a new agent with ``document`` as its first, published version."""
    agent = Agent(tenant_id=tenant_id, name=config.name, latest_version=config.version)
    session.add(agent)
    await session.flush()
    row = AgentVersion(
        tenant_id=tenant_id,
        agent_id=agent.id,
        version=config.version,
        config={**document, "version": config.version},
    )
    session.add(row)
    await session.flush()
    agent.published_version_id, agent.published_version = row.id, row.version
    return AgentState(agent=agent, latest=row)


def _nul_characters(value: object, path: str) -> list[FieldError]:
    # PostgreSQL text cannot hold NUL, and no agent needs one: reject it with its path.
    if isinstance(value, str):
        return (
            [FieldError(path, "must not contain NUL characters", value)] if "\x00" in value else []
        )
    if isinstance(value, Mapping):
        found = []
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                found.append(FieldError(child, "keys must not contain NUL characters", key))
            found.extend(_nul_characters(item, child))
        return found
    if isinstance(value, list):
        return [
            e
            for i, item in enumerate(value)
            for e in _nul_characters(item, f"{path}.{i}" if path else str(i))
        ]
    return []


def _same_config(stored: Mapping[str, Any], document: Mapping[str, Any]) -> bool:
    return {k: v for k, v in stored.items() if k != "version"} == {
        k: v for k, v in document.items() if k != "version"
    }


def _next_version(wanted: str, explicit: bool, versions: list[AgentVersion]) -> str:
    existing = {v.version for v in versions}
    top = highest(existing)
    assert top is not None, "an agent always has a version"
    if explicit and wanted not in existing and version_key(wanted) > version_key(top):
        return wanted
    return bump_patch(top)


async def _versions(session: AsyncSession, agent_id: str) -> list[AgentVersion]:
    rows = await session.execute(select(AgentVersion).where(AgentVersion.agent_id == agent_id))
    return list(rows.scalars().all())


async def version_row(
    session: AsyncSession, agent: Agent, version: str, *, field: str | None = "version"
) -> AgentVersion:
    """The agent's ``version``; NotFound naming ``field`` otherwise."""
    if not _VERSION_CHARS.match(version):
        raise NotFound(f"agent {agent.id} has no version {version!r}", field=field)
    rows = await session.execute(
        select(AgentVersion).where(
            AgentVersion.agent_id == agent.id, AgentVersion.version == version
        )
    )
    row = rows.scalars().first()
    if row is None:
        raise NotFound(f"agent {agent.id} has no version {version!r}", field=field)
    return row
