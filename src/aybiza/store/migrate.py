"""Bring a database to the newest schema with the migrations shipped in this package.

Every process that starts (``aybiza serve`` workers, ``aybiza migrate``, the key commands) calls
``upgrade_to_head``; concurrent callers are serialised (PostgreSQL advisory lock, SQLite write
lock) so the second finds the work done.
"""

from __future__ import annotations

import functools
import importlib
import logging
import pkgutil

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, inspect, text
from sqlalchemy.engine import Connection

from aybiza.store.database import Database
from aybiza.store.models import Base

# Any constant works; it only has to be the same in every process of this platform.
_PG_MIGRATION_LOCK = 0x41594249


def load_models() -> MetaData:
    """The metadata of every table: ``aybiza.store.models`` and each sibling ``*_models``
    module (other packages keep their tables there), imported so they register."""
    import aybiza.store as store_package

    for module in pkgutil.iter_modules(store_package.__path__):
        if module.name == "models" or module.name.endswith("_models"):
            importlib.import_module(f"aybiza.store.{module.name}")
    return Base.metadata


class LegacyDatabaseError(Exception):
    """The database holds tables from before migrations existed; the message says what to do."""


def alembic_config(url: str) -> Config:
    """Alembic configuration pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", "aybiza.store:migrations")
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@functools.cache
def head_revision() -> str:
    """The newest revision shipped with this build (read once per process: the shipped
    migrations do not change while it runs)."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head = script.get_current_head()
    assert head is not None, "the package ships at least one migration"
    return head


async def current_revision(database: Database) -> str | None:
    """The revision the database is at, None when it has never been migrated."""
    async with database.engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


async def upgrade_to_head(database: Database) -> str:
    """Apply every pending migration; returns the revision the database is now at. A
    database already at the head is left alone without loading the migrations (a restart,
    a second worker, each command)."""
    head = head_revision()
    if await current_revision(database) == head:
        return head
    async with database.writing() as session:
        connection = await session.connection()
        await connection.run_sync(_upgrade, database.url)
    return head_revision()


async def downgrade_to(database: Database, revision: str) -> None:
    """Revert migrations down to ``revision`` (``"base"`` removes every table)."""
    async with database.writing() as session:
        connection = await session.connection()
        await connection.run_sync(_downgrade, database.url, revision)


def _upgrade(connection: Connection, url: str) -> None:
    # Alembic narrates every start ("Context impl ..."); only problems are worth showing.
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
    _lock(connection)
    _refuse_legacy(connection, url)
    config = alembic_config(url)
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _downgrade(connection: Connection, url: str, revision: str) -> None:
    _lock(connection)
    config = alembic_config(url)
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


def _lock(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})


def _refuse_legacy(connection: Connection, url: str) -> None:
    tables = set(inspect(connection).get_table_names())
    if "calls" in tables and "alembic_version" not in tables:
        raise LegacyDatabaseError(
            f"the database {url} was created by a build without migrations (it has a calls "
            "table but no alembic_version); move it aside (e.g. data/aybiza.db) and start "
            "again to create a fresh one"
        )
