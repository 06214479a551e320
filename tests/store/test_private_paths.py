"""The server's files are its user's only (issue 11, item 5): the data directory it creates is
0700 and the SQLite database with its journal files 0600, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from aybiza.security.key_file import write_private_file
from aybiza.store.database import Database
from aybiza.store.migrate import upgrade_to_head


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """The usual 022 (or looser): files would be world-readable without the fix."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("permissive_umask")
async def test_item5_the_sqlite_file_and_data_dir_are_created_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "srv" / "data"
    database = Database(f"sqlite+aiosqlite:///{(data / 'aybiza.db').as_posix()}")
    try:
        await upgrade_to_head(database)
        # While a connection is open, SQLite keeps its WAL and shared-memory files beside it.
        async with database.session() as session:
            await session.execute(text("SELECT 1"))
            files = [data / "aybiza.db", data / "aybiza.db-wal", data / "aybiza.db-shm"]
            modes = {file.name: _mode(file) for file in files}
    finally:
        await database.dispose()
    assert modes == {"aybiza.db": 0o600, "aybiza.db-wal": 0o600, "aybiza.db-shm": 0o600}
    assert _mode(data) == 0o700
    assert _mode(data.parent) == 0o700


@pytest.mark.usefixtures("permissive_umask")
async def test_an_existing_world_readable_database_is_narrowed(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    path.touch(mode=0o644)
    os.chmod(path, 0o644)
    os.chmod(tmp_path, 0o755)
    database = Database(f"sqlite+aiosqlite:///{path.as_posix()}")
    try:
        await upgrade_to_head(database)
    finally:
        await database.dispose()
    assert _mode(path) == 0o600
    # The directory existed already: it may be shared, so it is left as it was.
    assert _mode(tmp_path) == 0o755


@pytest.mark.usefixtures("permissive_umask")
def test_a_secret_file_creates_its_directory_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "fresh"
    write_private_file(data / "secret.key", "k\n", replace=False)
    assert _mode(data) == 0o700
    assert _mode(data / "secret.key") == 0o600
