"""What people's access costs: an argon2id hash and check (run in a thread, off the event
loop), an audited change (the change plus its hash-chained event, in one transaction) against
the same change unaudited, and how fast ``aybiza audit verify`` walks a chain. SQLite in a
temporary directory; about half a minute.

    PYTHONPATH=. python -m bench.access_costs
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from aybiza.security.passwords import hash_password, verify_password
from aybiza.services.audit import AuditLog
from aybiza.services.tenants import TenantService
from aybiza.store.database import Database
from aybiza.store.migrate import upgrade_to_head
from aybiza.store.models import ApiKey
from aybiza.store.people_models import SignInThrottle

CHANGES = 300


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"p50 {statistics.median(ordered) * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms"


def passwords() -> None:
    hashes, checks = [], []
    for _ in range(10):
        start = time.perf_counter()
        hashed = hash_password("correct horse battery staple")
        hashes.append(time.perf_counter() - start)
        start = time.perf_counter()
        assert verify_password(hashed, "correct horse battery staple")
        checks.append(time.perf_counter() - start)
    print(f"argon2id hash:   {_ms(hashes)}")
    print(f"argon2id verify: {_ms(checks)}")


async def changes(directory: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{directory / 'bench.db'}")
    await upgrade_to_head(database)
    tenant = await TenantService(database).ensure_tenant("bench")
    audited, plain = [], []
    for i in range(CHANGES):
        start = time.perf_counter()
        async with database.writing() as session:  # an audited table: key + event + head
            session.add(ApiKey(tenant_id=tenant.id, prefix="p", key_hash=f"{i:064x}", scopes=["*"]))
        audited.append(time.perf_counter() - start)
        start = time.perf_counter()
        async with database.writing() as session:  # a table that is not audited
            session.add(SignInThrottle(subject=f"bench:{i}", failures=1))
        plain.append(time.perf_counter() - start)
    print(f"insert, audited:     {_ms(audited)}")
    print(f"insert, not audited: {_ms(plain)}")
    start = time.perf_counter()
    found = await AuditLog(database).verify()
    took = time.perf_counter() - start
    assert found.intact
    print(
        f"audit verify: {found.events} events in {took * 1000:.0f} ms "
        f"({found.events / took:.0f} events/s)"
    )
    await database.dispose()


def main() -> None:
    passwords()
    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(changes(Path(directory)))


if __name__ == "__main__":
    main()
