"""``TenantRepository``: one tenant never sees, pages, changes or deletes another tenant's rows,
and another tenant's row, a deleted row and an id of nothing all raise the same error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aybiza.store.database import Database
from aybiza.store.migrate import upgrade_to_head
from aybiza.store.models import Agent, ApiKey, Tenant
from aybiza.store.tenant_repository import TenantRepository

NOTHING = "0123456789abcdef0123456789abcdef"


class Missing(Exception):
    """What the repositories below raise for a reference that is not the tenant's."""


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'aybiza.db'}")
    await upgrade_to_head(database)
    try:
        yield database
    finally:
        await database.dispose()


async def _tenants(database: Database) -> tuple[str, str]:
    async with database.writing() as session:
        owner, intruder = Tenant(name="owner"), Tenant(name="intruder")
        session.add_all([owner, intruder])
    return owner.id, intruder.id


def _agents(database: Database) -> TenantRepository[Agent]:
    return TenantRepository(database, Agent, Missing, deleted_at=Agent.deleted_at)


async def test_item5_another_tenant_s_row_is_missing_exactly_like_no_row(
    database: Database,
) -> None:
    owner, intruder = await _tenants(database)
    agents = _agents(database)
    async with database.writing() as session:
        # Made with the intruder's id: ``add`` writes the row as the tenant it is given.
        agent = agents.add(session, owner, Agent(tenant_id=intruder, name="a", latest_version="1"))
    assert (await agents.fetch(owner, agent.id)).tenant_id == owner
    failures = []
    for tenant_id, ref in ((intruder, agent.id), (owner, NOTHING), (owner, "../" + agent.id)):
        with pytest.raises(Missing) as raised:
            await agents.fetch(tenant_id, ref)
        failures.append((type(raised.value), raised.value.args))
    assert failures == [
        (Missing, (agent.id,)),
        (Missing, (NOTHING,)),
        (Missing, ("../" + agent.id,)),
    ]
    with pytest.raises(Missing):
        await agents.delete(intruder, agent.id)
    assert (await agents.fetch(owner, agent.id)).deleted_at is None


async def test_item5_lists_hold_only_the_tenant_s_live_rows_newest_first(
    database: Database,
) -> None:
    owner, intruder = await _tenants(database)
    agents = _agents(database)
    async with database.writing() as session:
        mine = [
            agents.add(session, owner, Agent(name=f"mine {i}", latest_version="1"))
            for i in range(3)
        ]
        agents.add(session, intruder, Agent(name="theirs", latest_version="1"))
    await agents.delete(owner, mine[0].id)
    first = await agents.list(owner, cursor=None, limit=1)
    rest = await agents.list(owner, cursor=first.next_cursor, limit=10)
    listed = [row.name for row in [*first.items, *rest.items]]
    assert sorted(listed) == ["mine 1", "mine 2"]
    assert rest.next_cursor is None
    assert [row.name for row in (await agents.list(intruder, cursor=None, limit=10)).items] == [
        "theirs"
    ]
    with pytest.raises(Missing):
        await agents.fetch(owner, mine[0].id)
    filtered = await agents.list(owner, Agent.name == "mine 2", cursor=None, limit=10)
    assert [row.name for row in filtered.items] == ["mine 2"]


async def test_item5_a_table_without_soft_delete_loses_the_row(database: Database) -> None:
    owner, _ = await _tenants(database)
    keys = TenantRepository(database, ApiKey, Missing)
    async with database.writing() as session:
        key = keys.add(
            session, owner, ApiKey(prefix="ayb_x", key_hash="0" * 64, scopes=["calls:read"])
        )
    assert (await keys.delete(owner, key.id)).id == key.id
    async with database.session() as session:
        assert await session.get(ApiKey, key.id) is None


def test_item5_a_table_that_no_tenant_owns_is_refused(database: Database) -> None:
    with pytest.raises(TypeError, match="tenant_id"):
        TenantRepository(database, Tenant, Missing)
