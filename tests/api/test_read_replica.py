"""Configuration read from a read replica (``AYBIZA_DATABASE_READ_URL``): a call's number and
agent version come from the replica, the call itself is written to the primary, a number the
primary has released is not routed although the replica still shows it, and an unreachable
replica sends the reads to the primary. The replica is a snapshot of the primary taken while no
server runs (a second SQLite file, or a PostgreSQL database made from the primary as template),
so the primary's later changes are exactly what a lagging replica has not seen yet."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from tests.api.conftest import OPERATOR_KEY, ApiServer, serve_api
from tests.api.databases import BACKENDS, ScratchDatabase, _execute, create_database
from tests.api.helpers import agent_body, create_agent, create_number, ring

from aybiza.config import Settings
from aybiza.store.models import Call


@dataclass(frozen=True)
class Snapshot:
    """The primary's configuration at the time of the snapshot."""

    backend: str
    primary: ScratchDatabase
    replica: ScratchDatabase
    tenant_key: str
    agent_id: str
    number_id: str
    number: str


def _snapshot(backend: str, primary: ScratchDatabase, data_dir: Path) -> ScratchDatabase:
    """A copy of ``primary`` as it is now (no server may be connected to it)."""
    if backend == "sqlite":
        source = make_url(primary.url).database
        target = data_dir / "replica.db"
        assert source is not None
        with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
        return ScratchDatabase(url=f"sqlite+aiosqlite:///{target.as_posix()}")
    assert primary.server is not None and primary.name is not None
    name = f"{primary.name}_replica"
    asyncio.run(_execute(primary.server, f'CREATE DATABASE "{name}" TEMPLATE "{primary.name}"'))
    url = primary.server.set(drivername="postgresql+asyncpg", database=name)
    return ScratchDatabase(url.render_as_string(hide_password=False), primary.server, name)


@pytest.fixture(params=BACKENDS)
def snapshot(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Snapshot]:
    """A tenant, an agent published at 1.0.0 and a number, copied to a replica."""
    backend: str = request.param
    primary = create_database(backend, tmp_path)
    replica: ScratchDatabase | None = None
    try:
        with serve_api(backend, tmp_path, database=primary) as server:
            tenant = server.tenant(max_concurrent_calls=100)
            http = server.client(tenant.key)
            agent = create_agent(http, agent_body(version="1.0.0"))
            number = create_number(http, agent["id"])
        replica = _snapshot(backend, primary, tmp_path)
        yield Snapshot(
            backend, primary, replica, tenant.key, agent["id"], number["id"], number["number"]
        )
    finally:
        if replica is not None:
            replica.drop()
        primary.drop()


def _calls_with_sid(url: str, call_sid: str) -> int:
    async def count() -> int:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                query = select(func.count()).select_from(Call).where(Call.call_sid == call_sid)
                return int((await connection.execute(query)).scalar_one())
        finally:
            await engine.dispose()

    return asyncio.run(count())


def test_a_call_is_routed_from_the_replica_and_recorded_on_the_primary(
    snapshot: Snapshot, tmp_path: Path
) -> None:
    def configure(settings: Settings, _base_url: str) -> Settings:
        return replace(settings, database_read_url=snapshot.replica.url)

    second = tmp_path / "second"
    second.mkdir()
    with serve_api(snapshot.backend, second, configure, database=snapshot.primary) as server:
        http = server.client(snapshot.tenant_key)
        # Published on the primary only: the replica has not seen it yet.
        changed = http.put(
            f"/v1/agents/{snapshot.agent_id}",
            params={"publish": "true"},
            json=agent_body(version="2.0.0", system_prompt="Version two."),
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["published_version"] == "2.0.0"

        answer = ring(server.twilio, snapshot.number)
        assert answer.streams
        assert answer.parameter("agent_version") == "1.0.0"
        record = http.get(f"/v1/calls/{answer.call_sid}")
        assert record.status_code == 200, record.text
        assert record.json()["agent"]["version"] == "1.0.0"
        assert _calls_with_sid(snapshot.primary.url, answer.call_sid) == 1
        assert _calls_with_sid(snapshot.replica.url, answer.call_sid) == 0

        # Released on the primary, still on the replica: answered as an unknown number.
        deleted = http.delete(f"/v1/phone-numbers/{snapshot.number_id}")
        assert deleted.status_code == 204, deleted.text
        gone = ring(server.twilio, snapshot.number)
        assert not gone.streams
        assert "not connected to an agent" in gone.said[0]
        operator = server.client(OPERATOR_KEY).get(f"/v1/calls/{gone.call_sid}")
        assert operator.status_code == 200, operator.text
        assert operator.json()["ended_reason"] == "unknown-number"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_replica_sends_configuration_reads_to_the_primary(
    tmp_path: Path,
) -> None:
    # Nothing listens on the port once the socket is closed: connections are refused.
    unreachable = f"postgresql+asyncpg://aybiza@127.0.0.1:{_closed_port()}/replica"

    def configure(settings: Settings, _base_url: str) -> Settings:
        return replace(settings, database_read_url=unreachable)

    with serve_api("sqlite", tmp_path, configure) as server:
        assert server.app.state.database.read_engine is not None
        _admitted_from_primary(server)


def _admitted_from_primary(server: ApiServer) -> None:
    tenant = server.tenant(max_concurrent_calls=10)
    http = server.client(tenant.key)
    agent = create_agent(http, agent_body(version="1.0.0"))
    number = create_number(http, agent["id"])
    answer = ring(server.twilio, number["number"])
    assert answer.streams
    assert answer.parameter("agent_version") == "1.0.0"


def test_the_replica_url_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AYBIZA_DATABASE_READ_URL", raising=False)
    assert Settings.from_env().database_read_url is None
    replica = "postgresql+asyncpg://aybiza@127.0.0.1:5432/replica"
    monkeypatch.setenv("AYBIZA_DATABASE_READ_URL", replica)
    assert Settings.from_env().database_read_url == replica
