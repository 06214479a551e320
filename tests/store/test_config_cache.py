"""The configuration cache across processes: two ``Database`` objects on one database stand for
two server processes. A change committed by one is seen by the other once its entries are
``CONFIG_TTL_S`` old (its clock is a test clock, moved by hand), and never later; a change
committed through a ``Database`` empties its own cache at once."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.api.databases import BACKENDS, ScratchDatabase, create_database

from aybiza.services.number_config import compliance_mode, number_routing, version_config
from aybiza.store.config_cache import CONFIG_TTL_S
from aybiza.store.database import Database
from aybiza.store.migrate import upgrade_to_head
from aybiza.store.models import Agent, AgentVersion, PhoneNumber, Tenant


class Clock:
    """Monotonic seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Processes:
    """``here`` reads through its cache (clock ``clock``); ``other`` is another process."""

    here: Database
    other: Database
    clock: Clock
    tenant_id: str
    agent_id: str
    e164: str


@pytest.fixture(params=BACKENDS)
def scratch(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ScratchDatabase]:
    database = create_database(request.param, tmp_path)
    try:
        yield database
    finally:
        database.drop()


@pytest.fixture
async def processes(scratch: ScratchDatabase) -> AsyncIterator[Processes]:
    clock = Clock()
    other = Database(scratch.url)
    here = Database(scratch.url, config_clock=clock)
    try:
        await upgrade_to_head(other)
        async with other.writing() as session:
            tenant = Tenant(name="cached", compliance_mode="none")
            session.add(tenant)
            await session.flush()
            agent = Agent(
                tenant_id=tenant.id, name="a", published_version="1.0.0", latest_version="1.0.0"
            )
            session.add(agent)
            await session.flush()
            session.add(
                AgentVersion(tenant_id=tenant.id, agent_id=agent.id, version="1.0.0", config={})
            )
            session.add(
                PhoneNumber(
                    tenant_id=tenant.id,
                    e164="+15550100999",
                    type="twilio",
                    agent_id=agent.id,
                    region="local",
                    provisioning="manual",
                )
            )
        yield Processes(here, other, clock, tenant.id, agent.id, "+15550100999")
    finally:
        await here.dispose()
        await other.dispose()


async def _publish(database: Database, agent_id: str, tenant_id: str, version: str) -> str:
    async with database.writing() as session:
        row = AgentVersion(tenant_id=tenant_id, agent_id=agent_id, version=version, config={})
        session.add(row)
        agent = await session.get(Agent, agent_id)
        assert agent is not None
        agent.published_version, agent.latest_version = version, version
    return row.id


async def _published(p: Processes) -> str | None:
    routing = await number_routing(p.here, p.e164, random.Random(1))
    assert routing is not None and routing.version is not None
    return routing.version.version


async def test_another_process_s_change_is_seen_within_the_bound(processes: Processes) -> None:
    p = processes
    assert await _published(p) == "1.0.0"
    async with p.here.session() as session:
        assert await compliance_mode(p.here, p.tenant_id) == "none"
        first = (await session.execute(select(AgentVersion.id))).scalar_one()
        assert (await version_config(p.here, first, session)) is not None

    await _publish(p.other, p.agent_id, p.tenant_id, "2.0.0")
    async with p.other.writing() as session:
        tenant = await session.get(Tenant, p.tenant_id)
        assert tenant is not None
        tenant.compliance_mode = "pci"

    # Within the bound the cached configuration still answers (no query: the cache works) ...
    p.clock.now += CONFIG_TTL_S * 0.9
    assert await _published(p) == "1.0.0"
    assert await compliance_mode(p.here, p.tenant_id) == "none"
    # ... and once its entries are CONFIG_TTL_S old, the other process's change is seen.
    p.clock.now += CONFIG_TTL_S * 0.2
    assert await _published(p) == "2.0.0"
    assert await compliance_mode(p.here, p.tenant_id) == "pci"


async def test_a_change_committed_here_empties_the_cache_at_once(processes: Processes) -> None:
    p = processes
    assert await _published(p) == "1.0.0"
    generation = p.here.config.generation
    await _publish(p.here, p.agent_id, p.tenant_id, "2.0.0")
    assert p.here.config.generation > generation
    assert await _published(p) == "2.0.0"

    async with p.here.writing() as session:
        number = (
            await session.execute(select(PhoneNumber).where(PhoneNumber.e164 == p.e164))
        ).scalar_one()
        await session.delete(number)
    assert await number_routing(p.here, p.e164, random.Random(1)) is None


async def test_a_rolled_back_change_keeps_the_cache(processes: Processes) -> None:
    p = processes
    assert await _published(p) == "1.0.0"
    generation = p.here.config.generation
    with pytest.raises(RuntimeError):
        async with p.here.writing() as session:
            tenant = await session.get(Tenant, p.tenant_id)
            assert tenant is not None
            tenant.compliance_mode = "pci"
            await session.flush()
            raise RuntimeError("abandoned")
    assert p.here.config.generation == generation
