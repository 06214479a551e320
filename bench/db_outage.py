"""Database outage: live calls' writes through the store writer while PostgreSQL is cut.

Runs ``--calls`` simulated calls, each writing what a brisk conversation writes (a caller line,
the agent's heard line and the turn, ``--writes-per-minute`` in all) through one
``StoreWriter`` into a scratch PostgreSQL database reached through a loopback proxy
(``tests/fakes/tcp_proxy.py``). After ``--before-s`` the proxy is cut for ``--outage-s``, then
restored; the calls go on for ``--after-s`` and end. Prints how many writes were queued at the
peak, stored after waiting out the outage, turned away and lost (submitted but not in the
database: must be 0), whether each call's order was kept, and the queue's memory at its peak.
The shared PostgreSQL server is never stopped, only the proxy in front of it.

    PYTHONPATH=. python -m bench.db_outage                  # 100 calls, 30 s outage
    PYTHONPATH=. python -m bench.db_outage --outage-s 300   # the 5-minute design bound
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import secrets
import sys
import time
import tracemalloc
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from tests.fakes.tcp_proxy import Outage, TcpProxy

from aybiza.analytics.recorder import StoreCallRecorder
from aybiza.analytics.recording import CallStats, TurnRecord
from aybiza.store.database import Database
from aybiza.store.migrate import upgrade_to_head
from aybiza.store.models import Call, Tenant
from aybiza.store.probe import DatabaseProbe
from aybiza.store.writer import MAX_QUEUED_WRITES, StoreWriter

DEFAULT_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
# Lines of the lengths a phone call has.
_LINES = (
    "I would like to book an appointment for next Tuesday afternoon if that is possible",
    "We are open Monday to Friday, nine to five, and closed at weekends.",
    "Could you tell me whether you have anything free tomorrow morning?",
    "You are booked for Thursday at three. Is there anything else I can help with?",
    "No, thank you, that is all.",
)


@dataclass
class CallWrites:
    """One call's write stream and what it submitted."""

    recorder: StoreCallRecorder
    call_id: str
    lines: int = 0
    turns: int = 0

    async def talk(self, interval_s: float, rng: random.Random, stop: asyncio.Event) -> None:
        """An exchange (caller line, heard agent line, turn) every ``interval_s`` until stopped,
        then the call's end."""
        await asyncio.sleep(rng.uniform(0, interval_s))
        while not stop.is_set():
            caller, agent = _line(rng, self.turns), _line(rng, self.turns)
            self.recorder.transcript("caller", caller)
            self.recorder.transcript("agent", agent)
            timings: dict[str, float | None] = {"stt_final": 180.0, "first_audio_sent": 640.0}
            self.recorder.turn(TurnRecord(self.turns, caller, agent, agent, False, "m", timings))
            self.lines += 2
            self.turns += 1
            try:
                await asyncio.wait_for(stop.wait(), interval_s)
            except TimeoutError:
                continue
        self.recorder.ended("caller-hangup", CallStats(turns=self.turns), None)


def _line(rng: random.Random, turn: int) -> str:
    # A string of its own, as each line said on a call is (memory is measured per write).
    return f"{rng.choice(_LINES)} ({turn})"


async def _execute(server: URL, statement: str) -> None:
    engine = create_async_engine(server, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def _calls(database: Database, count: int) -> tuple[str, list[str]]:
    tenant = Tenant(name=f"bench-outage-{secrets.token_hex(4)}")
    calls = [Call(call_sid="CA" + secrets.token_hex(16), status="ringing") for _ in range(count)]
    async with database.writing() as session:
        session.add(tenant)
        await session.flush()
        for call in calls:
            call.tenant_id = tenant.id
            session.add(call)
    return tenant.id, [call.id for call in calls]


async def _check(database: Database, talks: list[CallWrites]) -> tuple[int, int, bool]:
    """Lines and turns lost (submitted, not stored), and whether every call's lines are
    contiguous and were committed in order (PostgreSQL's ``xmin`` grows with each commit)."""
    lost_lines = lost_turns = 0
    ordered = True
    async with database.session() as session:
        for talk in talks:
            rows = (
                await session.execute(
                    text(
                        "SELECT seq, xmin::text::bigint FROM transcript_lines"
                        " WHERE call_id = :c ORDER BY seq"
                    ),
                    {"c": talk.call_id},
                )
            ).all()
            turns = await session.scalar(
                text("SELECT count(*) FROM turns WHERE call_id = :c"), {"c": talk.call_id}
            )
            lost_lines += talk.lines - len(rows)
            lost_turns += talk.turns - int(turns or 0)
            seqs, commits = [row[0] for row in rows], [row[1] for row in rows]
            ordered &= seqs == list(range(1, len(rows) + 1)) and commits == sorted(commits)
    return lost_lines, lost_turns, ordered


async def _bench(args: argparse.Namespace) -> int:
    server = make_url(args.database_url).set(drivername="postgresql+asyncpg")
    name = f"aybiza_bench_outage_{secrets.token_hex(4)}"
    await _execute(server, f'CREATE DATABASE "{name}"')
    proxy = TcpProxy(server.host or "127.0.0.1", server.port or 5432)
    proxy.start()
    try:
        url = proxy.route(server.set(database=name).render_as_string(hide_password=False))
        return await _run(args, Database(url), proxy)
    finally:
        proxy.stop()
        await _execute(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _run(args: argparse.Namespace, database: Database, proxy: TcpProxy) -> int:
    await upgrade_to_head(database)
    writer = StoreWriter(database, max_queued=args.max_queued)
    writer.start()
    # As the app runs it: the probe tells the waiting writer when the database is back.
    probe = DatabaseProbe(database)
    probe.start()
    tenant_id, call_ids = await _calls(database, args.calls)
    rng = random.Random(7)
    stop = asyncio.Event()
    talks = [
        CallWrites(StoreCallRecorder(writer, call_id=call_id, tenant_id=tenant_id), call_id)
        for call_id in call_ids
    ]
    interval_s = 3 * 60 / args.writes_per_minute
    tasks = [asyncio.create_task(talk.talk(interval_s, rng, stop)) for talk in talks]
    print(
        f"db_outage: {args.calls} calls, {args.writes_per_minute:g} writes per call per minute, "
        f"{args.outage_s:g} s outage ({args.mode}), queue bound {args.max_queued}",
        flush=True,
    )
    await asyncio.sleep(args.before_s)

    tracemalloc.start()
    base_bytes = tracemalloc.get_traced_memory()[0]
    cut_at = time.monotonic()
    proxy.cut(Outage(args.mode))
    while (elapsed := time.monotonic() - cut_at) < args.outage_s:
        await asyncio.sleep(min(1.0, args.outage_s - elapsed))
        if int(elapsed) % 30 == 29:
            print(f"  {elapsed:5.0f} s cut: {writer.queued} queued", flush=True)
    down_since = database.health.down_since
    detected_s = None if down_since is None else down_since - cut_at
    queued_at_restore = writer.queued
    queue_bytes = tracemalloc.get_traced_memory()[0] - base_bytes
    tracemalloc.stop()
    proxy.restore()
    restored_at = time.monotonic()
    await database.health.wait_reachable(600)
    await writer.flush()
    drained_s = time.monotonic() - restored_at

    await asyncio.sleep(args.after_s)
    stop.set()
    await asyncio.gather(*tasks)
    await writer.flush()
    await writer.stop()
    await probe.stop()
    lost_lines, lost_turns, ordered = await _check(database, talks)
    await database.dispose()

    submitted = sum(talk.lines + talk.turns for talk in talks) + 2 * len(talks)
    per_write = queue_bytes / max(queued_at_restore, 1)
    lost = lost_lines + lost_turns
    peak_rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rows = (
        ("writes submitted", f"{submitted}"),
        ("outage seen after", f"{detected_s:.3f} s" if detected_s is not None else "never"),
        ("queued at the peak", f"{writer.peak_queued}"),
        ("stored after the outage", f"{writer.retried}"),
        ("retry attempts", f"{writer.retries}"),
        ("stored within, after restore", f"{drained_s:.2f} s"),
        ("turned away (queue full)", f"{writer.turned_away}"),
        ("refused by the database", f"{writer.failures}"),
        ("lost (lines, turns)", f"{lost} ({lost_lines}, {lost_turns})"),
        ("order kept", "yes" if ordered else "NO"),
        ("queue memory at restore", f"{queue_bytes / 2**20:.1f} MiB ({per_write:.0f} B/write)"),
        ("process peak RSS", f"{peak_rss_kib / 1024:.0f} MiB"),
    )
    for label, value in rows:
        print(f"  {label:30s} {value}")
    return 0 if lost == 0 and ordered and writer.turned_away == 0 else 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--outage-s", type=float, default=30.0)
    parser.add_argument("--before-s", type=float, default=5.0)
    parser.add_argument("--after-s", type=float, default=5.0)
    parser.add_argument(
        "--writes-per-minute",
        type=float,
        default=60.0,
        help="per call (the writer's design rate, a brisk call; 3 writes per exchange)",
    )
    parser.add_argument("--mode", choices=[o.value for o in Outage], default=Outage.RESET.value)
    parser.add_argument("--max-queued", type=int, default=MAX_QUEUED_WRITES)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("AYBIZA_TEST_DATABASE_URL", DEFAULT_SERVER),
        help="a PostgreSQL server (loopback) on which a scratch database is made and dropped",
    )
    sys.exit(asyncio.run(_bench(parser.parse_args(argv))))


if __name__ == "__main__":
    main()
