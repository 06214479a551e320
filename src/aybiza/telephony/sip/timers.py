"""SIP timer values (RFC 3261 §17, Table 4) and the clock transactions schedule them on.

Transactions take a ``Clock``: the running asyncio loop is one (its ``call_later`` returns a
handle with ``cancel``); ``VirtualClock`` is another whose time moves only when ``advance`` is
called, so tests and simulations run 32 seconds of retransmissions in no time at all.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


class TimerHandle(Protocol):
    """A scheduled callback that can be called off."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    """Runs a callback after a delay in seconds (``asyncio.AbstractEventLoop`` is one)."""

    def call_later(self, delay: float, callback: Callable[..., Any], /) -> TimerHandle: ...


@dataclass(frozen=True, slots=True)
class TimerSettings:
    """RFC 3261's T1 (round-trip estimate), T2 (longest non-INVITE retransmit interval) and
    T4 (how long a message may stay in the network), in seconds."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0

    @property
    def transaction_timeout(self) -> float:
        """64*T1: Timers B, F, H, J, L and M."""
        return 64 * self.t1


@dataclass(order=True, slots=True)
class _Scheduled:
    due: float
    sequence: int
    callback: Callable[[], Any] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock:
    """A clock that stands still until ``advance``: time is ``now`` seconds."""

    def __init__(self) -> None:
        self.now = 0.0
        self._queue: list[_Scheduled] = []
        self._sequence = itertools.count()

    def call_later(self, delay: float, callback: Callable[..., Any], /) -> _Scheduled:
        scheduled = _Scheduled(self.now + max(delay, 0.0), next(self._sequence), callback)
        heapq.heappush(self._queue, scheduled)
        return scheduled

    def advance(self, seconds: float) -> None:
        """Move time forward, running every callback that falls due (in order, including ones
        scheduled by callbacks along the way)."""
        until = self.now + seconds
        while self._queue and self._queue[0].due <= until:
            scheduled = heapq.heappop(self._queue)
            if scheduled.cancelled:
                continue
            self.now = scheduled.due
            scheduled.callback()
        self.now = until

    @property
    def pending(self) -> int:
        """Callbacks still scheduled."""
        return sum(1 for scheduled in self._queue if not scheduled.cancelled)
