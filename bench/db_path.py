"""The database's cost per incoming call and per turn (issue 15: keep the database off the call
path): statements and time of an incoming call's admission (``CallService.admit``: the number's
configuration, then the write transaction that decides and records the call), and of one
turn's writes through the store writer (a caller line, an agent line and the turn row).

Run on SQLite and on PostgreSQL, "before" (the code under ``--before-src``, e.g. main's
``src``) and "after" (this checkout) interleaved in one run, each in its own process, so both
meet the same load on a shared machine; compare the ratios, not the absolute times.

PYTHONPATH=.:src python -m bench.db_path --before-src /work/main/src \
    --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

CALLS = 200
TURN_CALLS = 50
ROUNDS = 2


async def measure(url: str) -> dict[str, float]:
    """Admit ``CALLS`` calls one after another, then write one turn on each of ``TURN_CALLS``
    live calls at once (as concurrent calls do); statements counted at the driver."""
    from aybiza.analytics.cost import PriceTable
    from aybiza.analytics.events import CallEvents
    from aybiza.analytics.recorder import StoreCallRecorder
    from aybiza.analytics.recording import TurnRecord
    from aybiza.config import Settings
    from aybiza.pipeline.phrases import PhraseCache
    from aybiza.providers.registry import EngineRegistry
    from aybiza.services.call_assembly import CallAssembly
    from aybiza.services.calls import CallService
    from aybiza.store.database import Database
    from aybiza.store.migrate import upgrade_to_head
    from aybiza.store.models import Agent, AgentVersion, PhoneNumber, Tenant
    from aybiza.store.writer import StoreWriter
    from aybiza.telephony.carrier import IncomingCall, Routed

    database = Database(url)
    await upgrade_to_head(database)
    statements = [0]

    def count(*_args: Any) -> None:
        statements[0] += 1

    event.listen(database.engine.sync_engine, "before_cursor_execute", count)
    e164 = "+15550100200"
    async with database.writing() as session:
        tenant = Tenant(name="bench", max_concurrent_calls=1_000_000)
        session.add(tenant)
        await session.flush()
        agent = Agent(tenant_id=tenant.id, name="bench", latest_version="1.0.0")
        session.add(agent)
        await session.flush()
        version = AgentVersion(tenant_id=tenant.id, agent_id=agent.id, version="1.0.0", config={})
        session.add(version)
        agent.published_version, agent.published_version_id = "1.0.0", None
        session.add(
            PhoneNumber(
                tenant_id=tenant.id,
                e164=e164,
                type="twilio",
                agent_id=agent.id,
                region="local",
                provisioning="manual",
            )
        )
    writer = StoreWriter(database)
    writer.start()
    events = CallEvents(PriceTable())
    assembly = CallAssembly(
        EngineRegistry(Settings(data_dir=Path(tempfile.mkdtemp()))), PhraseCache()
    )
    service = CallService(database, writer, assembly, events=events)
    routed: list[Routed] = []
    statements[0] = 0
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(CALLS):
        sid = "CA" + secrets.token_hex(16)
        admission = await service.admit(IncomingCall("twilio", sid, "+15558675310", e164, e164))
        assert isinstance(admission, Routed), admission
        routed.append(admission)
    admit_wall = (time.perf_counter() - started) / CALLS
    admit_cpu = (time.process_time() - cpu) / CALLS
    admit_statements = statements[0] / CALLS
    recorders = [
        StoreCallRecorder(writer, call_id=call.call_id, tenant_id=call.tenant_id, events=events)
        for call in routed[:TURN_CALLS]
    ]
    statements[0] = 0
    started, cpu = time.perf_counter(), time.process_time()
    for index in range(3):
        for recorder in recorders:
            recorder.transcript("caller", f"I would like to book a table for {index + 2}.")
            recorder.transcript("agent", "Of course. For what time?")
            recorder.turn(
                TurnRecord(
                    index,
                    "I would like to book.",
                    "Of course.",
                    "Of course.",
                    False,
                    "claude",
                    {"reply": 880.0},
                )
            )
        await writer.flush()
    turns = 3 * len(recorders)
    result = {
        "admit_ms": admit_wall * 1000,
        "admit_cpu_ms": admit_cpu * 1000,
        "admit_statements": admit_statements,
        "turn_ms": (time.perf_counter() - started) / turns * 1000,
        "turn_cpu_ms": (time.process_time() - cpu) / turns * 1000,
        "turn_statements": statements[0] / turns,
    }
    await writer.stop()
    await database.dispose()
    return result


async def _postgres_database(server: str, name: str, create: bool) -> str:
    admin = create_async_engine(
        make_url(server).set(drivername="postgresql+asyncpg"), isolation_level="AUTOCOMMIT"
    )
    try:
        async with admin.connect() as connection:
            if create:
                await connection.execute(text(f'CREATE DATABASE "{name}"'))
            else:
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()
    url = make_url(server).set(drivername="postgresql+asyncpg", database=name)
    return url.render_as_string(hide_password=False)


def _run(code: str, src: str, backend: str, postgres: str | None) -> dict[str, float]:
    """One measurement in a fresh process on a fresh database of ``backend``."""
    with tempfile.TemporaryDirectory() as scratch:
        name = f"aybiza_db_path_{secrets.token_hex(4)}"
        if backend == "sqlite":
            url = f"sqlite+aiosqlite:///{Path(scratch) / 'bench.db'}"
        else:
            assert postgres is not None
            url = asyncio.run(_postgres_database(postgres, name, create=True))
        here = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([here, src])}
        try:
            out = subprocess.run(
                [sys.executable, "-m", "bench.db_path", "--measure", url],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        finally:
            if backend != "sqlite":
                asyncio.run(_postgres_database(postgres or "", name, create=False))
    figures: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return figures


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--before-src", help="the src directory of the code to compare with")
    parser.add_argument("--postgres", help="a PostgreSQL server URL (a database is created)")
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(asyncio.run(measure(args.measure))))
        return
    after_src = str(Path(__file__).resolve().parent.parent / "src")
    codes = [("after", after_src)]
    if args.before_src:
        codes.insert(0, ("before", args.before_src))
    backends = ["sqlite"] + (["postgresql"] if args.postgres else [])
    print(f"{CALLS} admissions one after another; {TURN_CALLS} calls x 3 turns through the writer")
    print(
        f"{'backend':10s} {'code':6s} {'admit ms':>9s} {'CPU ms':>7s} {'stmts':>6s}"
        f" {'turn ms':>8s} {'CPU ms':>7s} {'stmts':>6s}"
    )
    for _ in range(ROUNDS):
        for backend in backends:
            for code, src in codes:
                f = _run(code, src, backend, args.postgres)
                print(
                    f"{backend:10s} {code:6s} {f['admit_ms']:9.2f} {f['admit_cpu_ms']:7.2f}"
                    f" {f['admit_statements']:6.1f} {f['turn_ms']:8.2f} {f['turn_cpu_ms']:7.2f}"
                    f" {f['turn_statements']:6.2f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
