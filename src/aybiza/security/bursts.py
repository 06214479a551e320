"""Counting bursts: how many times one source did something within a sliding window, firing
once when the count reaches the threshold (and not again until a window has passed)."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable


class BurstCounter:
    """Per-source sliding windows in this process, at most ``max_sources`` remembered (the
    least recently seen are forgotten first, so a spray of sources cannot grow it)."""

    def __init__(
        self,
        threshold: int,
        window_s: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_sources: int = 10_000,
    ) -> None:
        self.threshold = threshold
        self.window_s = window_s
        self._clock = clock
        self._max_sources = max_sources
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._quiet_until: dict[str, float] = {}

    def hit(self, source: str) -> int | None:
        """Count one event of ``source``; returns the count when this event makes a burst
        (``threshold`` within the window, not already reported in this window), else None."""
        if self.threshold <= 0:
            return None
        now = self._clock()
        times = self._hits.pop(source, None) or deque()
        times.append(now)
        while times and times[0] <= now - self.window_s:
            times.popleft()
        self._hits[source] = times
        while len(self._hits) > self._max_sources:
            forgotten, _ = self._hits.popitem(last=False)
            self._quiet_until.pop(forgotten, None)
        if len(times) < self.threshold or self._quiet_until.get(source, 0.0) > now:
            return None
        self._quiet_until[source] = now + self.window_s
        return len(times)
