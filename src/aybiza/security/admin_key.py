"""The operator's API key until tenants and scoped keys exist: from ``AYBIZA_API_KEY``, or made
on first start and kept in ``<data dir>/admin.key`` (readable by the owner only)."""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

KEY_FILE = "admin.key"


def load_or_create_admin_key(configured: str | None, data_dir: Path) -> str:
    if configured:
        return configured
    path = data_dir / KEY_FILE
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = "ayb_" + secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


def bearer_matches(header: str | None, key: str) -> bool:
    """Constant-time check of an ``Authorization: Bearer <key>`` header."""
    if not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[len("Bearer ") :].strip().encode(), key.encode())
