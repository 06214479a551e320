"""Engine and session factories for SQLite (embedded default) and PostgreSQL (asyncpg).

Reads use ``session()``; anything that writes uses ``writing()``. On SQLite a write transaction
starts with ``BEGIN IMMEDIATE``: a deferred transaction that read first and then tried to write
would fail with "database is locked" instead of waiting its turn when another connection wrote
in between. On PostgreSQL both are ordinary transactions.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from aybiza.store.health import DatabaseHealth
from aybiza.store.private_paths import private_sqlite_file

# Connections kept open per process. Calls arrive in bursts (a campaign, a busy hour, a load
# test dialling 20 calls a second): each webhook and each media stream start reads and writes,
# and with SQLAlchemy's default of 5 every burst opened and closed overflow connections, each
# paying for a new connection (and on SQLite its pragmas) on the event loop's time.
POOL_SIZE = 20
POOL_OVERFLOW = 30
# Execution option that makes a SQLite transaction take the write lock when it begins.
_IMMEDIATE = "aybiza_sqlite_immediate"


class Database:
    """One engine per process and the session factories bound to it; ``health`` says whether
    the database was reachable when last tried (set by the store writer and the probe)."""

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        self.health = DatabaseHealth()
        if self.dialect == "sqlite" and parsed.database not in (None, "", ":memory:"):
            private_sqlite_file(Path(parsed.database))
        self.engine: AsyncEngine = create_async_engine(
            url,
            pool_pre_ping=self.dialect != "sqlite",
            pool_size=POOL_SIZE,
            max_overflow=POOL_OVERFLOW,
        )
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_connect)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._writes = async_sessionmaker(
            self.engine.execution_options(**{_IMMEDIATE: True}), expire_on_commit=False
        )

    @property
    def is_sqlite(self) -> bool:
        """True for the embedded SQLite database."""
        return self.dialect == "sqlite"

    def session(self) -> AsyncSession:
        """A session for reading (it may write too, but SQLite may then refuse under load)."""
        return self.sessions()

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncSession]:
        """A session inside a write transaction, committed on success, rolled back on error."""
        async with self._writes() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


_WAL_ATTEMPTS = 100


def _sqlite_connect(dbapi_connection: object, _record: object) -> None:
    # Let the "begin" listener emit BEGIN itself (the driver's own would always be deferred).
    dbapi_connection.isolation_level = None  # type: ignore[attr-defined]
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    # Writers queue for the lock instead of failing at once (set first: the pragmas below lock).
    cursor.execute("PRAGMA busy_timeout=15000")
    # WAL lets the API read while calls write; NORMAL sync is durable across a process crash.
    # Switching a new database to WAL needs it to itself, and SQLite does not wait for that:
    # processes starting together retry for a few seconds.
    for attempt in range(_WAL_ATTEMPTS):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == _WAL_ATTEMPTS - 1:
                raise
            time.sleep(0.1)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get(_IMMEDIATE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
