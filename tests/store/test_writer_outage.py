"""The store writer through database outages (issue 11, item 9): what calls say while the
database is unreachable is kept in order and stored when it is back; a write the database
refuses is dropped without holding up the rest; a full queue turns new lines away but keeps
each call's end. PostgreSQL is cut with a loopback proxy, never stopped (others share it)."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from tests.api.databases import PG_ENV, ScratchDatabase, create_database
from tests.fakes.tcp_proxy import Outage, TcpProxy
from tests.store.conftest import NEEDS_POSTGRES

from aybiza.analytics.recorder import StoreCallRecorder
from aybiza.analytics.recording import CallStats, TurnRecord
from aybiza.store.database import Database
from aybiza.store.health import database_unreachable
from aybiza.store.migrate import upgrade_to_head
from aybiza.store.models import Call, Tenant, TranscriptLine, Turn, new_id
from aybiza.store.writer import StoreWriter

CALLS = 4


async def _until(done: Callable[[], bool], what: str) -> None:
    """Wait for ``done()``; a generous cap (a minute) turns a hang into a failure."""
    for _ in range(3000):
        if done():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def _calls(database: Database, count: int) -> tuple[str, list[str]]:
    tenant = Tenant(name=f"outage-{new_id()[:8]}")
    calls = [Call(call_sid="CA" + new_id(), status="ringing") for _ in range(count)]
    async with database.writing() as session:
        session.add(tenant)
        await session.flush()
        for call in calls:
            call.tenant_id = tenant.id
            session.add(call)
    return tenant.id, [call.id for call in calls]


class Conversation:
    """One call's writes through the real recorder, and what it said, in order."""

    def __init__(self, writer: StoreWriter, tenant_id: str, call_id: str) -> None:
        self.recorder = StoreCallRecorder(writer, call_id=call_id, tenant_id=tenant_id)
        self.call_id = call_id
        self.lines: list[str] = []
        self.turns = 0

    def exchange(self) -> None:
        """A caller line, the agent's heard answer and the settled turn."""
        index = self.turns
        caller, agent = f"caller says {index}", f"agent answers {index}"
        self.recorder.transcript("caller", caller)
        self.recorder.transcript("agent", agent)
        self.recorder.turn(TurnRecord(index, caller, agent, agent, False, "flow", {}))
        self.lines += [caller, agent]
        self.turns += 1


@pytest.fixture
async def pg_database(pg_scratch: ScratchDatabase, pg_proxy: TcpProxy) -> AsyncIterator[Database]:
    database = Database(pg_proxy.route(pg_scratch.url))
    await upgrade_to_head(database)
    try:
        yield database
    finally:
        await database.dispose()


async def _stored_lines(database: Database, call_id: str) -> list[tuple[str, int]]:
    """The call's transcript in the order it was committed: PostgreSQL's ``xmin`` (the
    inserting transaction) grows with each commit, and the writer commits in queue order."""
    query = text(
        "SELECT text, xmin::text::bigint FROM transcript_lines WHERE call_id = :c ORDER BY seq"
    )
    async with database.session() as session:
        rows = (await session.execute(query, {"c": call_id})).all()
    return [(row[0], row[1]) for row in rows]


async def test_item9_lines_and_turns_said_during_a_postgres_outage_are_all_stored_in_order(
    pg_database: Database, pg_proxy: TcpProxy
) -> None:
    database = pg_database
    writer = StoreWriter(database)
    writer.start()
    tenant_id, call_ids = await _calls(database, CALLS)
    talks = [Conversation(writer, tenant_id, call_id) for call_id in call_ids]
    retries_before = _sample("aybiza_store_write_retries_total")
    outage_before = _sample("aybiza_database_outage_seconds_total")
    for talk in talks:
        talk.exchange()
    await writer.flush()

    pg_proxy.cut(Outage.RESET)
    for talk in talks:
        talk.exchange()
    await _until(lambda: not database.health.reachable, "the writer saw the outage")
    # Nobody waits on the database: flush() returns at once while it is unreachable.
    async with asyncio.timeout(10):
        await writer.flush()
    await _until(lambda: writer.retries >= 2, "the writer retried while cut")
    for talk in talks:
        talk.exchange()
        talk.recorder.ended("caller-hangup", CallStats(turns=talk.turns), None)
    held = writer.queued
    assert held == CALLS * (3 + 3 + 1)
    assert _sample("aybiza_store_writes_queued") == held

    pg_proxy.restore()
    assert await database.health.wait_reachable(60)
    await writer.flush()
    assert writer.queued == 0
    assert (writer.failures, writer.turned_away) == (0, 0)
    assert writer.retried == held
    assert _sample("aybiza_store_write_retries_total") > retries_before
    assert _sample("aybiza_database_outage_seconds_total") > outage_before

    for talk in talks:
        stored = await _stored_lines(database, talk.call_id)
        assert [line for line, _ in stored] == talk.lines
        commits = [xmin for _, xmin in stored]
        assert commits == sorted(commits), "lines were committed in the order they were said"
        async with database.session() as session:
            turns = (
                await session.scalars(
                    select(Turn.index).where(Turn.call_id == talk.call_id).order_by(Turn.index)
                )
            ).all()
            call = await session.get(Call, talk.call_id)
        assert list(turns) == list(range(talk.turns))
        assert call is not None
        assert (call.status, call.ended_reason) == ("completed", "caller-hangup")
    await writer.stop()


async def test_item9_a_connection_dropped_mid_commit_is_retried_not_lost(
    pg_database: Database, pg_proxy: TcpProxy
) -> None:
    database = pg_database
    writer = StoreWriter(database)
    writer.start()
    tenant_id, (call_id,) = await _calls(database, 1)
    talk = Conversation(writer, tenant_id, call_id)
    cut_once = asyncio.Event()

    async def cut_inside_the_transaction(session: AsyncSession) -> None:
        # The batch has begun writing on a live connection when the network drops.
        await session.execute(text("SELECT 1"))
        if not cut_once.is_set():
            cut_once.set()
            pg_proxy.cut(Outage.RESET)

    talk.exchange()
    writer.submit(cut_inside_the_transaction)
    talk.exchange()
    await _until(lambda: not database.health.reachable, "the dropped connection was seen")
    pg_proxy.restore()
    assert await database.health.wait_reachable(60)
    await writer.flush()
    assert [line for line, _ in await _stored_lines(database, call_id)] == talk.lines
    assert writer.failures == 0
    await writer.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def scratch(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ScratchDatabase]:
    if request.param == "postgresql" and not os.environ.get(PG_ENV):
        pytest.skip(NEEDS_POSTGRES)
    database = create_database(request.param, tmp_path)
    try:
        yield database
    finally:
        database.drop()


async def test_a_write_the_database_refuses_is_dropped_and_the_writes_after_it_are_stored(
    scratch: ScratchDatabase,
) -> None:
    database = Database(scratch.url)
    await upgrade_to_head(database)
    writer = StoreWriter(database)
    writer.start()
    tenant_id, (call_id,) = await _calls(database, 1)
    talk = Conversation(writer, tenant_id, call_id)
    refused_before = _sample("aybiza_store_writes_dropped_total", reason="refused")
    talk.exchange()
    # A second turn 0: the unique (call_id, index) constraint refuses it. Retrying it would
    # fail forever, so it must not hold up the lines behind it.
    talk.recorder.turn(TurnRecord(0, "again", "again", "again", False, None, {}))
    talk.exchange()
    await writer.flush()
    async with database.session() as session:
        lines = (
            await session.scalars(
                select(TranscriptLine.text)
                .where(TranscriptLine.call_id == call_id)
                .order_by(TranscriptLine.seq)
            )
        ).all()
    assert list(lines) == talk.lines
    assert (writer.failures, writer.retries) == (1, 0)
    assert database.health.reachable
    assert _sample("aybiza_store_writes_dropped_total", reason="refused") == refused_before + 1
    await writer.stop()
    await database.dispose()


async def test_item9_a_full_queue_turns_new_lines_away_but_keeps_every_calls_end(
    tmp_path: Path,
) -> None:
    database = Database(create_database("sqlite", tmp_path).url)
    await upgrade_to_head(database)
    tenant_id, (call_id,) = await _calls(database, 1)
    # Not started yet: writes pile up as they would behind an outage.
    writer = StoreWriter(database, max_queued=9)
    talk = Conversation(writer, tenant_id, call_id)
    full_before = _sample("aybiza_store_writes_dropped_total", reason="queue-full")
    for _ in range(4):
        talk.exchange()
    talk.recorder.ended("caller-hangup", CallStats(), None)
    assert writer.queued == 10
    assert writer.turned_away == 3
    assert _sample("aybiza_store_writes_dropped_total", reason="queue-full") == full_before + 3
    writer.start()
    await writer.flush()
    async with database.session() as session:
        lines = (
            await session.scalars(
                select(TranscriptLine.text)
                .where(TranscriptLine.call_id == call_id)
                .order_by(TranscriptLine.seq)
            )
        ).all()
        call = await session.get(Call, call_id)
    # The oldest are kept (an unbroken beginning); the last exchange was turned away.
    assert list(lines) == talk.lines[:6]
    assert call is not None and call.ended_reason == "caller-hangup"
    await writer.stop()
    await database.dispose()


async def test_item9_faults_of_the_way_to_the_database_are_unreachable_and_bad_writes_are_not(
    tmp_path: Path,
) -> None:
    # Real errors, raised by the real drivers. A loopback port nobody listens on:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    nowhere = Database(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres")
    with pytest.raises(OSError) as refused:
        async with nowhere.writing() as session:
            await session.execute(text("SELECT 1"))
    await nowhere.dispose()
    assert database_unreachable(refused.value)

    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)")
    holder.execute("BEGIN EXCLUSIVE")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError) as locked:
        other.execute("INSERT INTO t VALUES (1)")
    holder.execute("ROLLBACK")
    with pytest.raises(sqlite3.OperationalError) as bad_sql:
        other.execute("INSERT INTO no_such_table VALUES (1)")
    holder.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlite3.IntegrityError) as duplicate:
        holder.execute("INSERT INTO t VALUES (1)")
    holder.close()
    other.close()
    assert database_unreachable(locked.value)
    assert not database_unreachable(bad_sql.value)
    assert not database_unreachable(duplicate.value)
    wrapped = IntegrityError("INSERT", {}, duplicate.value)
    assert not database_unreachable(wrapped)
    assert not database_unreachable(ValueError("a bug in a write"))
