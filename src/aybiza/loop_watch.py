"""A watch on the event loop: how late it wakes a task that asked to sleep.

Every call of a server process shares one event loop, so anything that holds it (a slow
callback, a blocking call, a long garbage collection) delays every call's audio. The watch
sleeps ``INTERVAL_S`` at a time and records how late it woke (``aybiza_event_loop_lateness_
seconds``) and the longest stall of the current and previous ``WINDOW_S``
(``aybiza_event_loop_stall_longest_seconds``); the benchmark reads both from ``/metrics``. A
stall of ``LOG_STALL_S`` or more is logged.
Waking 40 times a second costs a few microseconds each.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog

from aybiza.analytics import metrics

log = structlog.get_logger(__name__)

INTERVAL_S = 0.025
# A stall this long is logged (``event_loop.stalled``): every call heard it.
LOG_STALL_S = 0.1
WINDOW_S = 2.0


class LoopWatch:
    """Started once per server process, on its event loop; ``longest_s`` is the longest stall
    seen of the current and previous windows."""

    def __init__(self, *, interval_s: float = INTERVAL_S, window_s: float = WINDOW_S) -> None:
        if interval_s <= 0 or window_s <= interval_s:
            raise ValueError("interval_s must be positive and shorter than window_s")
        self._interval_s = interval_s
        self._window_s = window_s
        self._task: asyncio.Task[None] | None = None
        self._window_started = 0.0
        self._current = 0.0
        self._previous = 0.0

    @property
    def longest_s(self) -> float:
        """The longest lateness of the current and previous windows, in seconds."""
        return max(self._current, self._previous)

    def record(self, lateness_s: float, now: float) -> None:
        """Account one wake-up that came ``lateness_s`` after it was due, at ``now``."""
        if now - self._window_started >= self._window_s:
            self._previous, self._current = self._current, 0.0
            self._window_started = now
        lateness_s = max(lateness_s, 0.0)
        self._current = max(self._current, lateness_s)
        metrics.LOOP_LATENESS.observe(lateness_s)
        if lateness_s >= LOG_STALL_S:
            log.warning("event_loop.stalled", stall_ms=round(lateness_s * 1000))
        metrics.LOOP_STALL_LONGEST.set(self.longest_s)

    def start(self) -> None:
        """Begin watching the running loop (idempotent)."""
        if self._task is None:
            self._window_started = time.monotonic()
            self._task = asyncio.create_task(self._run(), name="loop-watch")

    async def stop(self) -> None:
        """Stop watching."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        interval = self._interval_s
        while True:
            due = time.monotonic() + interval
            await asyncio.sleep(interval)
            now = time.monotonic()
            self.record(now - due, now)
