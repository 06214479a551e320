"""Fixtures of the store tests: a scratch PostgreSQL database reached through a loopback proxy
the test can cut (``tests/fakes/tcp_proxy.py``), so an outage never touches the shared server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from tests.api.databases import PG_ENV, ScratchDatabase, create_database
from tests.fakes.tcp_proxy import TcpProxy

NEEDS_POSTGRES = (
    f"PostgreSQL outage tests: set {PG_ENV}=postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    " (as .ci/run does)"
)


@pytest.fixture
def pg_scratch(tmp_path: Path) -> Iterator[ScratchDatabase]:
    """A fresh database on the test PostgreSQL server, dropped afterwards."""
    if not os.environ.get(PG_ENV):
        pytest.skip(NEEDS_POSTGRES)
    database = create_database("postgresql", tmp_path)
    try:
        yield database
    finally:
        database.drop()


@pytest.fixture
def pg_proxy() -> Iterator[TcpProxy]:
    """A proxy in front of the test PostgreSQL server; ``route()`` a URL through it."""
    if not os.environ.get(PG_ENV):
        pytest.skip(NEEDS_POSTGRES)
    server = make_url(os.environ[PG_ENV])
    with TcpProxy(server.host or "127.0.0.1", server.port or 5432) as proxy:
        yield proxy
