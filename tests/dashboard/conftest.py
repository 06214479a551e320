"""Fixtures of the dashboard tests: the real app over HTTP (SQLite, and PostgreSQL too where
``AYBIZA_TEST_DATABASE_URL`` names a server), tenants with people of each role, and
browser-like clients signed in through the sign-in form."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.api.conftest import ApiServer, serve_api
from tests.api.databases import BACKENDS


@pytest.fixture(scope="module", params=BACKENDS)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """The running app for one database backend."""
    with serve_api(request.param, tmp_path_factory.mktemp(f"dash-{request.param}")) as server:
        yield server
