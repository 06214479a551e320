"""How often one call's recognition stream may reconnect: exponential backoff with jitter, and a
hard cap per sliding window.

An endpoint that accepts a socket and drops it again at once would otherwise be redialled as fast
as the network allows (one call once made 4,616 connections in 42 s). Each reconnect waits
``min(max_backoff_s, initial_backoff_s * 2**n) * uniform(0.5, 1)``, ``n`` counting the
reconnects since the stream last delivered a final result; the random half spreads the
reconnects of many calls dropped together. At most ``max_per_window`` reconnects fit in any
``window_s`` seconds; one more and the stream gives up (``ReconnectGaveUpError``) so the call
can move to another recogniser.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aybiza.providers.errors import ReconnectGaveUpError

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ReconnectLimits:
    """The documented defaults: 0.25 s doubling to 8 s, at most 10 reconnects a minute.

    ``clock`` and ``sleep`` are the monotonic clock and the wait the budget uses (tests give
    a simulated pair so no test waits for real backoff).
    """

    initial_backoff_s: float = 0.25
    max_backoff_s: float = 8.0
    max_per_window: int = 10
    window_s: float = 60.0
    clock: Clock = time.monotonic
    sleep: Sleep = asyncio.sleep
    jitter: Callable[[], float] = field(default=random.random)

    def __post_init__(self) -> None:
        if self.initial_backoff_s < 0 or self.max_backoff_s < self.initial_backoff_s:
            raise ValueError(
                "reconnect backoff must satisfy 0 <= initial_backoff_s <= max_backoff_s, got "
                f"{self.initial_backoff_s} and {self.max_backoff_s}"
            )
        if self.max_per_window < 1 or self.window_s <= 0:
            raise ValueError(
                "max_per_window must be at least 1 and window_s positive, got "
                f"{self.max_per_window} and {self.window_s}"
            )


class ReconnectBudget:
    """One stream's reconnects: call ``before_reconnect()`` before every reconnect attempt and
    ``recovered()`` when a connection has proved healthy."""

    def __init__(self, engine: str, limits: ReconnectLimits) -> None:
        self._engine = engine
        self._limits = limits
        self._recent: deque[float] = deque()  # clock times of reconnects inside the window
        self._failures = 0  # reconnects since the stream last recovered
        self.total = 0  # reconnects over the stream's life
        self.waits_s: list[float] = []  # every backoff waited, in order (for the call record)

    def next_delay_s(self) -> float:
        """The backoff before the next reconnect, with its jitter."""
        limits = self._limits
        ceiling = min(limits.max_backoff_s, limits.initial_backoff_s * 2.0**self._failures)
        return ceiling * (0.5 + 0.5 * limits.jitter())

    async def before_reconnect(self) -> None:
        """Wait the backoff, then claim a reconnect from the window; raises
        ``ReconnectGaveUpError`` when the window has none left."""
        limits = self._limits
        delay = self.next_delay_s()
        self.waits_s.append(round(delay, 3))
        await limits.sleep(delay)
        now = limits.clock()
        while self._recent and now - self._recent[0] >= limits.window_s:
            self._recent.popleft()
        if len(self._recent) >= limits.max_per_window:
            raise ReconnectGaveUpError(
                self._engine,
                f"gave up reconnecting: {len(self._recent)} reconnects in the last "
                f"{limits.window_s:g} s, the most allowed per call",
                attempts=self.total,
                window_s=limits.window_s,
            )
        self._recent.append(now)
        self._failures += 1
        self.total += 1

    def recovered(self) -> None:
        """The connection delivered results again: the next drop starts from the first
        backoff (the window still counts every reconnect)."""
        self._failures = 0
