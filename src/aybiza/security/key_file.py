"""Files holding secrets on the server's disk: written atomically, readable by the owner only."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from aybiza.store.private_paths import private_dir


def write_private_file(path: Path, content: str, *, replace: bool) -> bool:
    """Write ``content`` to ``path`` with mode 0600, atomically.

    With ``replace`` False the file is created only if it does not exist yet (several server
    processes may race to create it: exactly one wins, the others keep its content). Returns
    True when this call wrote the file.
    """
    private_dir(path.parent)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(temp, path)
            return True
        try:
            os.link(temp, path)
        except FileExistsError:
            return False
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def read_private_file(path: Path) -> str | None:
    """The file's content without surrounding whitespace, or None when it is missing or empty."""
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None
