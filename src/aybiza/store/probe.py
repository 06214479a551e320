"""``DatabaseProbe``: a cheap ``SELECT 1`` every few seconds, so the database's health is known
(and ``/readyz`` honest) even when no call is writing, and the writer hears at once when the
database is back."""

from __future__ import annotations

import asyncio

from aybiza.background import BackgroundLoop
from aybiza.store.database import Database
from aybiza.store.health import database_unreachable

# Default seconds between probes (AYBIZA_DATABASE_PROBE_S).
PROBE_INTERVAL_S = 5.0
# While the database is unreachable, probe at least this often: the writer waits on it.
OUTAGE_PROBE_INTERVAL_S = 1.0
# A probe longer than this counts as unreachable (a partition answers nothing at all).
PROBE_TIMEOUT_S = 3.0


class DatabaseProbe:
    """Runs ``SELECT 1`` on the database every ``interval_s`` and sets ``database.health``."""

    def __init__(self, database: Database, *, interval_s: float = PROBE_INTERVAL_S) -> None:
        self._database = database
        self._interval_s = interval_s
        self._loop = BackgroundLoop("database-probe", self.probe, interval_s=interval_s)

    def start(self) -> None:
        """Start probing (on the running loop)."""
        self._loop.start()

    async def stop(self) -> None:
        """Stop probing."""
        await self._loop.stop()

    async def probe(self) -> float | None:
        """One probe; returns a shorter wait while the database is unreachable."""
        health = self._database.health
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_S), self._database.engine.connect() as conn:
                await conn.exec_driver_sql("SELECT 1")
        except Exception as exc:
            if not database_unreachable(exc):
                raise
            health.unreachable(exc)
            return min(self._interval_s, OUTAGE_PROBE_INTERVAL_S)
        health.reached()
        return None
