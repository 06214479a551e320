"""The ``0100`` migration creates exactly the automation models' tables, and downgrades."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from tests.api.databases import ScratchDatabase

import aybiza.store.automation_models  # noqa: F401  (registers the tables on Base.metadata)
from aybiza.store.database import Database
from aybiza.store.migrate import downgrade_to, head_revision, upgrade_to_head
from aybiza.store.models import Base

TABLES = {"tools", "tool_calls", "workflows", "workflow_runs", "workflow_steps", "call_analysis"}


async def _differences(database: Database) -> list[object]:
    async with database.engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
            )
        )


async def _tables(database: Database) -> set[str]:
    async with database.engine.connect() as connection:
        return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_the_migration_matches_the_models_and_downgrades(scratch: ScratchDatabase) -> None:
    database = Database(scratch.url)
    try:
        assert await upgrade_to_head(database) == head_revision()
        assert await _tables(database) >= TABLES
        assert await _differences(database) == []
        await downgrade_to(database, "0001")
        assert not TABLES & await _tables(database)
        await upgrade_to_head(database)
        assert await _differences(database) == []
    finally:
        await database.dispose()
