"""The server's own files are readable by its user only: directories it creates are 0700, the
SQLite database (and the journal files SQLite derives from it) 0600. The database holds every
tenant's transcripts and sealed secrets; the user's umask must not decide who can read it."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
# SQLite gives its WAL and shared-memory files the database file's own mode.
_SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) as 0700. A directory that already exists is left
    as it is: it may be shared (``/tmp``, a mounted volume) and is not ours to narrow."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=PRIVATE_DIR)
            # mkdir's mode passes through the umask; a umask can only narrow 0700, but an
            # explicit chmod makes the result the same everywhere.
            os.chmod(directory, PRIVATE_DIR)


def private_sqlite_file(path: Path) -> None:
    """Make sure the SQLite database at ``path`` exists and is 0600 before SQLite opens it:
    created empty with that mode (SQLite starts a new database in an empty file), or, when
    it exists and this user owns it, narrowed to it (with its journal files)."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        for file in (path, *(path.with_name(path.name + s) for s in _SQLITE_COMPANIONS)):
            _narrow(file)
    else:
        os.close(fd)


def _narrow(file: Path) -> None:
    try:
        info = file.stat()
    except FileNotFoundError:
        return
    if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(file, PRIVATE_FILE)
