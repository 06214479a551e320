"""Migrations bring an empty SQLite or PostgreSQL database to the models' schema, through
``aybiza migrate`` as an operator runs it; they downgrade, and refuse pre-migration files."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from tests.api.databases import BACKENDS, ScratchDatabase, create_database

from aybiza.store.database import Database
from aybiza.store.migrate import (
    LegacyDatabaseError,
    current_revision,
    downgrade_to,
    head_revision,
    load_models,
    upgrade_to_head,
)


@pytest.fixture(params=BACKENDS)
def empty(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ScratchDatabase]:
    database = create_database(request.param, tmp_path)
    try:
        yield database
    finally:
        database.drop()


async def _differences(database: Database) -> list[object]:
    async with database.engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True}), load_models()
            )
        )


async def _tables(database: Database) -> set[str]:
    async with database.engine.connect() as connection:
        return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))


def test_aybiza_migrate_upgrades_an_empty_database_to_the_models(
    empty: ScratchDatabase, tmp_path: Path
) -> None:
    env = {**os.environ, "AYBIZA_DATABASE_URL": empty.url, "AYBIZA_DATA_DIR": str(tmp_path)}
    aybiza = Path(sys.executable).parent / "aybiza"
    done = subprocess.run(
        [str(aybiza), "migrate"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "newest schema" in done.stderr

    async def check() -> None:
        database = Database(empty.url)
        try:
            assert await current_revision(database) == head_revision()
            assert await _differences(database) == []
            assert {"tenants", "api_keys", "agents", "agent_versions", "calls"} <= await _tables(
                database
            )
        finally:
            await database.dispose()

    asyncio.run(check())


def test_migrations_downgrade_to_nothing_and_upgrade_again(empty: ScratchDatabase) -> None:
    async def cycle() -> None:
        database = Database(empty.url)
        try:
            await upgrade_to_head(database)
            await downgrade_to(database, "base")
            assert await current_revision(database) is None
            assert await _tables(database) <= {"alembic_version"}
            await upgrade_to_head(database)
            assert await _differences(database) == []
        finally:
            await database.dispose()

    asyncio.run(cycle())


def test_processes_starting_together_migrate_once(empty: ScratchDatabase) -> None:
    async def race() -> None:
        databases = [Database(empty.url) for _ in range(3)]
        try:
            revisions = await asyncio.gather(*(upgrade_to_head(db) for db in databases))
            assert set(revisions) == {head_revision()}
        finally:
            for database in databases:
                await database.dispose()

    asyncio.run(race())


def test_a_database_from_before_migrations_is_refused_with_advice(tmp_path: Path) -> None:
    legacy = tmp_path / "aybiza.db"
    with sqlite3.connect(legacy) as connection:
        connection.execute("CREATE TABLE calls (id TEXT PRIMARY KEY)")

    async def upgrade() -> None:
        database = Database(f"sqlite+aiosqlite:///{legacy.as_posix()}")
        try:
            await upgrade_to_head(database)
        finally:
            await database.dispose()

    with pytest.raises(LegacyDatabaseError, match="move it aside"):
        asyncio.run(upgrade())
