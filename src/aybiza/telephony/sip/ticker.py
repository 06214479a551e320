"""One 20 ms media clock for every RTP endpoint of an event loop.

Each call's endpoint used to wake its own task every 20 ms (a timer, a future and a task step
per call per packet). The ticker keeps one timer for all of them: on each tick it calls every
registered endpoint with the tick's time on a drift-free grid (``start + n * 20 ms``), and the
endpoints do their slot's work in that one callback. A late tick (the loop stalled) is followed
at once by the next, so endpoints catch up as their own clocks did; once the loop is more than
``max_late_ticks`` behind, the grid jumps to the latest tick and each endpoint's sender decides,
from the grid time, which of its slots it skips. The timer runs only while an endpoint is
registered.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable

import structlog

log = structlog.get_logger(__name__)

PACKET_S = 0.020
Tick = Callable[[float], None]

_TICKERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, MediaTicker] = (
    weakref.WeakKeyDictionary()
)


class MediaTicker:
    """Calls each registered ``tick(when)`` every ``packet_s`` on one grid of the loop's clock."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        packet_s: float = PACKET_S,
        max_late_ticks: int = 5,
    ) -> None:
        self._loop = loop
        self._packet_s = packet_s
        self._max_late_s = max_late_ticks * packet_s
        self._ticks: dict[Tick, None] = {}  # insertion-ordered set
        self._handle: asyncio.TimerHandle | None = None
        self._next = 0.0
        self.ticks = 0
        self.jumps = 0

    def __len__(self) -> int:
        return len(self._ticks)

    def add(self, tick: Tick) -> float:
        """Register ``tick``; returns the grid time of its first call (its slot 0)."""
        self._ticks[tick] = None
        if self._handle is None:
            self._next = self._loop.time()
            self._handle = self._loop.call_at(self._next, self._run)
        return self._next

    def remove(self, tick: Tick) -> None:
        """Stop calling ``tick``; the timer stops with the last one."""
        self._ticks.pop(tick, None)
        if not self._ticks and self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _run(self) -> None:
        when = self._next
        self.ticks += 1
        for tick in list(self._ticks):
            try:
                tick(when)
            except Exception:  # one endpoint's fault must not stop every call's media
                log.exception("rtp.tick_failed")
        if not self._ticks:
            self._handle = None
            return
        self._next = when + self._packet_s
        now = self._loop.time()
        if now - self._next > self._max_late_s:
            self.jumps += 1
            self._next += int((now - self._next) / self._packet_s) * self._packet_s
        self._handle = self._loop.call_at(self._next, self._run)


def ticker_for(loop: asyncio.AbstractEventLoop | None = None) -> MediaTicker:
    """The event loop's shared ticker (made on first use)."""
    loop = loop if loop is not None else asyncio.get_running_loop()
    ticker = _TICKERS.get(loop)
    if ticker is None:
        ticker = _TICKERS[loop] = MediaTicker(loop)
    return ticker
