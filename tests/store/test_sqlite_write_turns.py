"""SQLite's write transactions take turns in the process, first come first served, and a
writer waiting its turn holds no pooled connection (nor a thread polling SQLite's lock)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from aybiza.store.database import Database


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'turns.db'}")
    async with db.writing() as session:
        await session.execute(text("CREATE TABLE said (n INTEGER NOT NULL)"))
    try:
        yield db
    finally:
        await db.dispose()


async def test_writers_wait_their_turn_in_order_without_holding_connections(
    database: Database,
) -> None:
    release, first_inside = asyncio.Event(), asyncio.Event()
    entered: list[int] = []

    async def write(n: int) -> None:
        async with database.writing() as session:
            entered.append(n)
            await session.execute(text("INSERT INTO said (n) VALUES (:n)"), {"n": n})
            if n == 0:
                first_inside.set()
                await release.wait()

    first = asyncio.create_task(write(0))
    await first_inside.wait()
    waiting = [asyncio.create_task(write(n)) for n in range(1, 6)]
    for _ in range(20):
        await asyncio.sleep(0.005)
    assert entered == [0]
    # Only the writer inside its transaction holds a connection.
    assert database.engine.pool.checkedout() == 1  # type: ignore[attr-defined]
    release.set()
    await asyncio.gather(first, *waiting)
    assert entered == [0, 1, 2, 3, 4, 5]
    async with database.session() as session:
        rows = (await session.execute(text("SELECT n FROM said ORDER BY rowid"))).scalars()
        assert list(rows) == [0, 1, 2, 3, 4, 5]


async def test_a_failed_write_gives_the_next_writer_its_turn(database: Database) -> None:
    with pytest.raises(RuntimeError, match="refused"):
        async with database.writing() as session:
            await session.execute(text("INSERT INTO said (n) VALUES (1)"))
            raise RuntimeError("refused")
    async with asyncio.timeout(10), database.writing() as session:
        await session.execute(text("INSERT INTO said (n) VALUES (2)"))
    async with database.session() as session:
        assert list((await session.execute(text("SELECT n FROM said"))).scalars()) == [2]
