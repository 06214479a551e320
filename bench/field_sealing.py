"""Field encryption at rest: what sealing costs a write of call data.

Writes ``--lines`` transcript lines (a typical caller sentence each) through the ORM, one
transaction per ``--batch`` lines as the store writer commits them, to a fresh SQLite
database without a master key (plain) and with a key-file master key (sealed), and prints
the time per line of each (best of ``--repeats``), then the cost of sealing and opening one
line alone (AES-256-GCM envelope, best of 2,000).

    PYTHONPATH=.:src python -m bench.field_sealing
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from aybiza.security.master_keys import KeyFileMasterKey
from aybiza.store.database import Database
from aybiza.store.migrate import upgrade_to_head
from aybiza.store.models import Call, Tenant, TranscriptLine, new_id
from aybiza.store.sealing import open_bytes, seal_bytes

LINE = "My card number is 4111 1111 1111 1111 and my email is john dot smith at example dot com."


async def _write_us(directory: Path, sealed: bool, lines: int, batch: int) -> float:
    master = KeyFileMasterKey(directory / "master.key") if sealed else None
    database = Database(f"sqlite+aiosqlite:///{directory / 'bench.db'}", master_key=master)
    try:
        await upgrade_to_head(database)
        async with database.writing() as session:
            tenant = Tenant(name=new_id())
            session.add(tenant)
            await session.flush()
            call = Call(tenant_id=tenant.id, call_sid=new_id(), from_number="+14155550123")
            session.add(call)
        started = time.perf_counter()
        for first in range(0, lines, batch):
            async with database.writing() as session:
                session.add_all(
                    TranscriptLine(
                        tenant_id=tenant.id, call_id=call.id, seq=seq, speaker="caller", text=LINE
                    )
                    for seq in range(first, min(first + batch, lines))
                )
        return (time.perf_counter() - started) / lines * 1e6
    finally:
        await database.dispose()


async def _envelope_us() -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as directory:
        database = Database(
            f"sqlite+aiosqlite:///{directory}/keys.db",
            master_key=KeyFileMasterKey(Path(directory) / "master.key"),
        )
        try:
            await upgrade_to_head(database)
            keys = database.field_keys
            assert keys is not None
            async with database.writing() as session:
                sealed = await keys.encrypt_bytes(session, "acme", "bench", LINE.encode())
            seal = best(lambda: seal_bytes(keys, "acme", "transcript_lines.text", LINE.encode()))
            opened = best(lambda: open_bytes(keys, sealed, "bench"))
            return seal, opened
        finally:
            await database.dispose()


def best(work: object, runs: int = 2000) -> float:
    """The fastest of ``runs`` calls of ``work``, in microseconds."""
    assert callable(work)
    fastest = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        work()
        fastest = min(fastest, time.perf_counter() - started)
    return fastest * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results: dict[bool, float] = {}
    for sealed in (False, True):
        runs = []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as directory:
                runs.append(asyncio.run(_write_us(Path(directory), sealed, args.lines, args.batch)))
        results[sealed] = min(runs)
    seal, opened = asyncio.run(_envelope_us())
    print(
        f"{args.lines} transcript lines, {args.batch} per transaction, SQLite, best of "
        f"{args.repeats}"
    )
    print("| write | µs per line |")
    print("|---|---|")
    print(f"| plain | {results[False]:.1f} |")
    print(f"| sealed | {results[True]:.1f} |")
    print(
        f"\nsealing costs {results[True] - results[False]:.1f} µs per line written; "
        f"one envelope: seal {seal:.1f} µs, open {opened:.1f} µs"
    )


if __name__ == "__main__":
    main()
