"""Databases for the API tests: a SQLite file, or a fresh PostgreSQL database per use on the
server named by ``AYBIZA_TEST_DATABASE_URL`` (e.g. postgresql+asyncpg://postgres@127.0.0.1/postgres)."""

from __future__ import annotations

import asyncio
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine

PG_ENV = "AYBIZA_TEST_DATABASE_URL"
BACKENDS = ["sqlite", "postgresql"] if os.environ.get(PG_ENV) else ["sqlite"]


@dataclass(frozen=True)
class ScratchDatabase:
    """An empty database and how to remove it."""

    url: str
    server: URL | None = None
    name: str | None = None

    def drop(self) -> None:
        """Remove the database (PostgreSQL); SQLite files go with the temporary directory."""
        if self.server is not None and self.name is not None:
            asyncio.run(
                _execute(self.server, f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            )


def create_database(backend: str, data_dir: Path) -> ScratchDatabase:
    """A new, empty database of ``backend``."""
    if backend == "sqlite":
        return ScratchDatabase(url=f"sqlite+aiosqlite:///{(data_dir / 'api.db').as_posix()}")
    server = make_url(os.environ[PG_ENV])
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"aybiza_test_{worker}_{secrets.token_hex(4)}"
    asyncio.run(_execute(server, f'CREATE DATABASE "{name}"'))
    url = server.set(drivername="postgresql+asyncpg", database=name)
    return ScratchDatabase(url=url.render_as_string(hide_password=False), server=server, name=name)


async def _execute(server: URL, statement: str) -> None:
    # CREATE/DROP DATABASE cannot run inside a transaction.
    engine = create_async_engine(
        server.set(drivername="postgresql+asyncpg"), isolation_level="AUTOCOMMIT"
    )
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()
