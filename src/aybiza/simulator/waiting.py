"""The waits a simulated call offers its script: for the agent's answer, for the agent to go
quiet, for the call to end. Each carrier's call notifies a ``CallChanges`` whenever something
happens (audio arrived, the caller stopped, the call ended) and the waits re-check then."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from aybiza.simulator.errors import CallEndedError
from aybiza.simulator.latency import LatencyClock
from aybiza.timeouts import within


class CallChanges:
    """Wakes whoever waits on a call when anything about it changes."""

    def __init__(self, is_over: Callable[[], bool]) -> None:
        self._is_over = is_over
        self._changed = asyncio.Event()

    def notify(self) -> None:
        """Something changed: every waiter re-checks."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_change(self, wait_s: float) -> None:
        """Until the next change, at most ``wait_s``."""
        with contextlib.suppress(TimeoutError):
            await within(self._changed.wait(), wait_s)

    async def wait_until(self, done: Callable[[], bool], timeout_s: float) -> None:
        """Until ``done()`` or the call is over. Raises TimeoutError naming ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while not done() and not self._is_over():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"nothing from the agent within {timeout_s:g} s")
            await self.wait_change(remaining)

    async def answer(self, latency: LatencyClock, timeout_s: float) -> float:
        """The latency of the answer to the caller's latest action (or of the greeting).
        Raises TimeoutError, or CallEndedError when the call ends first."""
        await self.wait_until(lambda: latency.current_answer() is not None, timeout_s)
        answered = latency.current_answer()
        if answered is None:
            raise CallEndedError("the call ended before the agent answered")
        return answered

    async def quiet(self, idle_at: Callable[[], float], timeout_s: float) -> None:
        """Until ``idle_at()`` (when the agent's audio will have played and gone quiet) has
        passed; at once when the call is over. Raises TimeoutError."""
        deadline = time.monotonic() + timeout_s
        while not self._is_over():
            now = time.monotonic()
            idle = idle_at()
            if now >= idle:
                return
            if now >= deadline:
                raise TimeoutError(f"the agent was still speaking after {timeout_s:g} s")
            await self.wait_change(min(idle, deadline) - now)
