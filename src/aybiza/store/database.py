"""Engine and session factories for SQLite (embedded default) and PostgreSQL (asyncpg).

Reads use ``session()``; anything that writes uses ``writing()``. On SQLite a write transaction
starts with ``BEGIN IMMEDIATE``: a deferred transaction that read first and then tried to write
would fail with "database is locked" instead of waiting its turn when another connection wrote
in between. On PostgreSQL both are ordinary transactions.

SQLite takes one writer at a time, so the write transactions of a process also queue for their
turn in the process (``asyncio.Lock``, first come first served) before they take a connection.
Left to SQLite, each waiter held a pooled connection and a thread polling the lock with growing
sleeps, and one that kept losing to the store writer's back-to-back batches hit the 15 s busy
timeout: at 80 calls on a loaded core, incoming calls failed with "database is locked". The
busy timeout still covers other processes (``aybiza serve --workers``).

Configuration read when a call is admitted (numbers, agents, their versions) goes through
``read_configuration()``: on a read replica when one is configured (``AYBIZA_DATABASE_READ_URL``,
e.g. the region's replica of a global primary, docs/scaling.md), else on the primary, and
what it read is kept in the process's ``ConfigCache`` when the caller names a key
(``aybiza.store.config_cache``: emptied by any configuration change committed here, entries
kept ``CONFIG_TTL_S`` at most for changes made by other processes).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import structlog
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from aybiza.store import sealing_hooks  # noqa: F401  (registers the flush hook)
from aybiza.store.audit_capture import AuditedSession
from aybiza.store.config_cache import CONFIG_TTL_S, SESSION_KEY, ConfigCache
from aybiza.store.field_keys import FieldKeys, MasterKey
from aybiza.store.health import DatabaseHealth, database_unreachable, describe
from aybiza.store.private_paths import private_sqlite_file
from aybiza.store.sealing import install_keys

T = TypeVar("T")
log = structlog.get_logger(__name__)

# Connections kept open per process. Calls arrive in bursts (a campaign, a busy hour, a load
# test dialling 20 calls a second): each webhook and each media stream start reads and writes,
# and with SQLAlchemy's default of 5 every burst opened and closed overflow connections, each
# paying for a new connection (and on SQLite its pragmas) on the event loop's time.
POOL_SIZE = 20
POOL_OVERFLOW = 30
# A replica that has not answered a configuration read by then is given up for the primary (a
# partition answers nothing, and the carrier waits on the admission).
REPLICA_TIMEOUT_S = 2.0
# Execution option that makes a SQLite transaction take the write lock when it begins.
_IMMEDIATE = "aybiza_sqlite_immediate"


class Database:
    """One engine per process and the session factories bound to it; ``health`` says whether
    the database was reachable when last tried (set by the store writer and the probe).
    ``read_url`` names a read replica for configuration reads (``read_configuration``).
    ``master_key`` turns on field encryption at rest (``field_keys``; every server and worker
    process passes it, ``aybiza.security.master_keys``): call data is then sealed with
    per-tenant data keys wrapped by it. ``config`` caches configuration reads
    (``config_ttl_s``: how long another process's change may go unseen, by ``config_clock``;
    0 turns it off)."""

    def __init__(
        self,
        url: str,
        *,
        read_url: str | None = None,
        master_key: MasterKey | None = None,
        config_ttl_s: float = CONFIG_TTL_S,
        config_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.read_url = read_url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        self.health = DatabaseHealth()
        # SQLite's writers queue here, in order, rather than in SQLite's busy handler.
        self._write_turn: asyncio.Lock | None = asyncio.Lock() if self.dialect == "sqlite" else None
        if self.dialect == "sqlite" and parsed.database not in (None, "", ":memory:"):
            private_sqlite_file(Path(parsed.database))
        self.engine = _engine(url)
        self.field_keys = FieldKeys(master_key) if master_key is not None else None
        if self.field_keys is not None:
            self.field_keys.install(self.engine)
        self.config = ConfigCache(config_ttl_s, config_clock)
        # Every session carries the cache: a configuration change it commits empties it.
        info = {SESSION_KEY: self.config}
        # Audited sessions: changes to audited tables are logged (``aybiza.store.audit_capture``).
        self.sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=AuditedSession, info=info
        )
        self._writes = async_sessionmaker(
            self.engine.execution_options(**{_IMMEDIATE: True}),
            expire_on_commit=False,
            sync_session_class=AuditedSession,
            info=info,
        )
        # The replica is only read: no migrations, no writes, no private-file set-up.
        self.read_engine: AsyncEngine | None = _engine(read_url) if read_url else None
        if self.field_keys is not None and self.read_engine is not None:
            install_keys(self.read_engine.sync_engine.dialect, self.field_keys)
        self._replica = (
            async_sessionmaker(self.read_engine, expire_on_commit=False)
            if self.read_engine is not None
            else None
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
        """A session inside a write transaction, committed on success, rolled back on error.
        On SQLite it waits its turn among the process's writers first."""
        if self._write_turn is None:
            async with self._writes() as session, session.begin():
                yield session
            return
        async with self._write_turn, self._writes() as session, session.begin():
            yield session

    async def read_configuration(
        self, read: Callable[[AsyncSession], Awaitable[T]], *, key: Hashable | None = None
    ) -> T:
        """Run ``read`` (configuration only: tenants, agents, versions, numbers) on the read
        replica when one is configured, else on the primary. With a ``key``, what it returns
        is kept in ``config`` (it must be an immutable snapshot, not ORM rows) and the next
        read of that key within the cache's bound costs no query.

        Configuration changes rarely and is read at every call's admission; a replica in the
        call's region answers it without the trip to a distant primary, and its lag (seconds
        at most) only delays a change by as much. A replica that cannot be reached sends the
        read to the primary, so its outage never stops calls."""
        if key is not None:
            return await self.config.get(key, lambda: self._read_configuration(read))
        return await self._read_configuration(read)

    async def _read_configuration(self, read: Callable[[AsyncSession], Awaitable[T]]) -> T:
        if self._replica is None:
            async with self.sessions() as session:
                return await read(session)
        try:
            async with asyncio.timeout(REPLICA_TIMEOUT_S), self._replica() as session:
                return await read(session)
        except Exception as exc:
            if not database_unreachable(exc):
                raise
            log.warning("database.replica_unreachable", error=describe(exc))
        async with self.sessions() as session:
            return await read(session)

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
        if self.read_engine is not None:
            await self.read_engine.dispose()


def _engine(url: str) -> AsyncEngine:
    """An engine for ``url`` with the pool every process uses (and SQLite's pragmas)."""
    sqlite = make_url(url).get_backend_name() == "sqlite"
    engine = create_async_engine(
        url, pool_pre_ping=not sqlite, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW
    )
    if sqlite:
        event.listen(engine.sync_engine, "connect", _sqlite_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


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
