"""Fixtures of the outbound tests: a migrated SQLite database, the secret box and the local
receiver (the automation tests' own, a customer's endpoint on loopback)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.api.databases import create_database
from tests.automation.helpers import SECRET_KEY
from tests.automation.receiver import Receiver

from aybiza.security.secretbox import HmacSecretBox
from aybiza.store.database import Database
from aybiza.store.migrate import upgrade_to_head


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    scratch = create_database("sqlite", tmp_path)
    db = Database(scratch.url)
    await upgrade_to_head(db)
    try:
        yield db
    finally:
        await db.dispose()
        scratch.drop()


@pytest.fixture
def box() -> HmacSecretBox:
    return HmacSecretBox(SECRET_KEY)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = await Receiver().start()
    try:
        yield server
    finally:
        await server.stop()
