"""Fixtures of the automation tests: a migrated database (SQLite; PostgreSQL too where
``AYBIZA_TEST_DATABASE_URL`` names a server), the secret box, the local receiver and the fake
Twilio."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from tests.api.databases import BACKENDS, ScratchDatabase, create_database
from tests.automation.fake_twilio import FakeTwilio
from tests.automation.helpers import REDIS_URL, SECRET_KEY, redis_reachable
from tests.automation.receiver import Receiver

from aybiza.security.secretbox import HmacSecretBox
from aybiza.store.database import Database
from aybiza.store.migrate import upgrade_to_head


@pytest.fixture(params=BACKENDS)
def scratch(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ScratchDatabase]:
    database = create_database(request.param, tmp_path)
    try:
        yield database
    finally:
        database.drop()


@pytest.fixture
def sqlite_scratch(tmp_path: Path) -> ScratchDatabase:
    return create_database("sqlite", tmp_path)


@pytest.fixture
async def database(sqlite_scratch: ScratchDatabase) -> AsyncIterator[Database]:
    db = Database(sqlite_scratch.url)
    await upgrade_to_head(db)
    try:
        yield db
    finally:
        await db.dispose()


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


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    server = await FakeTwilio(accounts={"AC" + "1" * 32: "platform-token"}).start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def queue() -> AsyncIterator[str]:
    name = f"aybiza-test-{secrets.token_hex(6)}"
    yield name
    if redis_reachable():
        redis = Redis.from_url(REDIS_URL)
        try:
            keys = [name, f"{name}:health-check"]
            for prefix in ("arq:job:", "arq:in-progress:", "arq:retry:", "arq:result:"):
                keys += [key async for key in redis.scan_iter(f"{prefix}{name}:*")]
            await redis.delete(*keys)
        finally:
            await redis.aclose()
