"""Databases for the API tests: a SQLite file, or a fresh PostgreSQL database per use on the
server named by ``AYBIZA_TEST_DATABASE_URL`` (e.g. postgresql+asyncpg://postgres@127.0.0.1/postgres)."""

from __future__ import annotations

import asyncio
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy.engine import URL, make_url

PG_ENV = "AYBIZA_TEST_DATABASE_URL"
BACKENDS = ["sqlite", "postgresql"] if os.environ.get(PG_ENV) else ["sqlite"]


@dataclass(frozen=True)
class TestDatabase:
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


def create_database(backend: str, data_dir: Path) -> TestDatabase:
    """A new, empty database of ``backend``."""
    if backend == "sqlite":
        return TestDatabase(url=f"sqlite+aiosqlite:///{(data_dir / 'api.db').as_posix()}")
    server = make_url(os.environ[PG_ENV])
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"aybiza_test_{worker}_{secrets.token_hex(4)}"
    asyncio.run(_execute(server, f'CREATE DATABASE "{name}"'))
    url = server.set(drivername="postgresql+asyncpg", database=name)
    return TestDatabase(url=url.render_as_string(hide_password=False), server=server, name=name)


async def _execute(server: URL, statement: str) -> None:
    connection = await asyncpg.connect(
        host=server.host or "127.0.0.1",
        port=server.port or 5432,
        user=server.username or "postgres",
        password=server.password,
        database=server.database or "postgres",
    )
    try:
        await connection.execute(statement)
    finally:
        await connection.close()
