"""Whether the database can be reached, as the store writer and the probe last found it.

``database_unreachable(exc)`` decides what a failed write means. "Unreachable" is a fault of the
database or the way to it, after which the same write, retried unchanged, will succeed once the
database is back: the connection was refused, reset or timed out, the server is shutting down
or starting up, is out of connections, memory or disk, or (SQLite) the file is locked or cannot
be written. Anything else (a broken constraint, bad SQL, a bug in the write itself) means the
write is wrong and retrying it would fail forever: the writer drops that one write and logs it.

``DatabaseHealth`` is the flag ``/readyz`` reads: down from the first failure that means
unreachable, up again at the first success. It keeps the Prometheus gauge and outage counter.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import structlog
from prometheus_client import Counter, Gauge
from sqlalchemy import exc as sa_exc

from aybiza.timeouts import within

log = structlog.get_logger(__name__)

REACHABLE = Gauge("aybiza_database_reachable", "1 while the database answers, 0 during an outage.")
OUTAGE_SECONDS = Counter(
    "aybiza_database_outage_seconds_total", "Seconds the database was unreachable."
)

# SQLSTATE classes (PostgreSQL) of faults outside the write: 08 connection exception,
# 53 insufficient resources (too many connections, disk full), 57 operator intervention
# (admin or crash shutdown, cannot connect now), 58 system error (I/O).
_UNREACHABLE_SQLSTATE = ("08", "53", "57", "58")
# SQLite result codes (``sqlite3.Error.sqlite_errorname``, extended codes included) meaning the
# file cannot be written now. Not SQLITE_ERROR: that one is also bad SQL or a missing table.
_UNREACHABLE_SQLITE = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_IOERR",
    "SQLITE_FULL",
    "SQLITE_CANTOPEN",
    "SQLITE_READONLY",
    "SQLITE_PROTOCOL",
)


def database_unreachable(exc: BaseException) -> bool:
    """True when ``exc`` says the database cannot be reached now (retry the write later),
    False when it says the write itself was refused (retrying would not help)."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        error = pending.pop()
        if id(error) in seen:
            continue
        seen.add(id(error))
        # OSError covers refused, reset and timed-out connections (TimeoutError is one too).
        if isinstance(error, OSError | sa_exc.TimeoutError):
            return True
        if isinstance(error, sa_exc.DBAPIError):
            if error.connection_invalidated:
                return True
            if isinstance(error.orig, BaseException):
                pending.append(error.orig)
        if _code_means_unreachable(error):
            return True
        if error.__cause__ is not None:
            pending.append(error.__cause__)
    return False


def _code_means_unreachable(error: BaseException) -> bool:
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate[:2] in _UNREACHABLE_SQLSTATE:
        return True
    name = getattr(error, "sqlite_errorname", None)
    return isinstance(name, str) and name.startswith(_UNREACHABLE_SQLITE)


def describe(exc: BaseException) -> str:
    """A short description for logs and ``/readyz``: the driver's error, never the statement
    or its parameters (they hold what callers said)."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None:
        exc = exc.orig
    text = str(exc).splitlines()[0] if str(exc) else ""
    if not text and isinstance(exc, TimeoutError):
        text = "the database did not answer in time"
    return f"{type(exc).__name__}: {text}"[:200]


class DatabaseHealth:
    """The process's view of the database: reachable or not, since when and why."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.reachable = True
        self.down_since: float | None = None
        self.last_error: str | None = None
        self.outages = 0
        self.back_at: float | None = None
        self._accounted_at = 0.0
        self._back = asyncio.Event()
        self._back.set()
        self._on_unreachable: list[Callable[[], None]] = []
        REACHABLE.set(1)

    def on_unreachable(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` when an outage begins (the writer lets ``flush()`` callers go)."""
        self._on_unreachable.append(listener)

    def unreachable(self, exc: BaseException) -> None:
        """A write or probe found the database unreachable (``exc`` says how)."""
        now = self._clock()
        self.last_error = describe(exc)
        if self.reachable:
            self.reachable = False
            self.down_since = self._accounted_at = now
            self.outages += 1
            self._back.clear()
            REACHABLE.set(0)
            log.error("store.database_unreachable", error=self.last_error)
            for listener in self._on_unreachable:
                listener()
            return
        self._account(now)

    def reached(self) -> float | None:
        """A write or probe succeeded; returns how long the outage lasted when this ends one."""
        if self.reachable:
            return None
        now = self._clock()
        self._account(now)
        lasted = now - (self.down_since or now)
        self.reachable, self.down_since, self.back_at = True, None, now
        self._back.set()
        REACHABLE.set(1)
        log.warning("store.database_reachable_again", outage_s=round(lasted, 3))
        return lasted

    def settled(self, for_s: float) -> bool:
        """Reachable, and for at least ``for_s`` since the last outage ended (what was queued
        during it has had time to be written)."""
        if not self.reachable:
            return False
        return self.back_at is None or self._clock() - self.back_at >= for_s

    def unreachable_for_s(self) -> float:
        """Seconds since the current outage began (0 while reachable)."""
        if self.down_since is None:
            return 0.0
        now = self._clock()
        self._account(now)
        return now - self.down_since

    async def wait_reachable(self, timeout_s: float) -> bool:
        """Wait until the database is found reachable again, at most ``timeout_s``."""
        try:
            await within(self._back.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    def status(self) -> dict[str, Any]:
        """What ``/readyz`` shows about the database."""
        if self.reachable:
            return {"reachable": True}
        return {
            "reachable": False,
            "unreachable_for_s": round(self.unreachable_for_s(), 3),
            "error": self.last_error,
        }

    def _account(self, now: float) -> None:
        # The outage counter grows while the outage lasts, not only when it ends.
        if now > self._accounted_at:
            OUTAGE_SECONDS.inc(now - self._accounted_at)
            self._accounted_at = now
