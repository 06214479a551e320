"""Fixtures of the people, sessions, MFA and audit tests: a migrated database (SQLite, and
PostgreSQL too where ``AYBIZA_TEST_DATABASE_URL`` names a server) and the secret box."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from tests.api.conftest import ApiServer, serve_api
from tests.api.databases import BACKENDS, ScratchDatabase, create_database

from aybiza.config import Settings
from aybiza.security.secretbox import AesGcmSecretBox
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
async def database(scratch: ScratchDatabase) -> AsyncIterator[Database]:
    db = Database(scratch.url)
    await upgrade_to_head(db)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
def box() -> AesGcmSecretBox:
    return AesGcmSecretBox(bytes(range(32)))


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """The real app over HTTP with small lock-out and burst thresholds."""

    def configure(settings: Settings, _base_url: str) -> Settings:
        access = replace(
            settings.access,
            sign_in_attempts=3,
            sign_in_address_attempts=50,
            denied_burst=5,
            denied_window_s=600.0,
        )
        return replace(settings, access=access)

    data_dir = tmp_path_factory.mktemp(f"people-{request.param}")
    with serve_api(request.param, data_dir, configure) as running:
        yield running
