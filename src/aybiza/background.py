"""``BackgroundLoop``: the one way the platform runs periodic work (pollers, sweepers, senders).

Each loop runs its step every ``interval_s`` (with a little jitter so several processes do not
poll in step), sooner when ``wake()`` is called, logs a failed step and carries on, and stops
cleanly on shutdown: ``stop()`` cancels the wait (never a step half-way through a write unless the
step itself is awaiting) and waits for the task to end.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable

import structlog

from aybiza.timeouts import within

log = structlog.get_logger(__name__)

# A step returns how long to wait before the next one (seconds), or None for the loop's interval.
Step = Callable[[], Awaitable[float | None]]


class BackgroundLoop:
    """Runs ``step`` until stopped. ``step`` may return a shorter wait (0 to run again at once,
    when it left work behind); ``wake()`` cuts the current wait short."""

    def __init__(
        self,
        name: str,
        step: Step,
        *,
        interval_s: float,
        jitter: float = 0.1,
        rng: random.Random | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self.name = name
        self._step = step
        self._interval_s = interval_s
        self._jitter = max(0.0, jitter)
        self._rng = rng if rng is not None else random.Random()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.failures = 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Begin running in the background (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=self.name)

    def wake(self) -> None:
        """Run the step now rather than at the end of the current wait."""
        self._wakeup.set()

    async def stop(self) -> None:
        """Stop the loop and wait for it to end (idempotent)."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def _wait_s(self, asked: float | None) -> float:
        if asked is not None:
            return max(0.0, asked)
        spread = self._interval_s * self._jitter
        return self._interval_s + self._rng.uniform(-spread, spread)

    async def _run(self) -> None:
        while True:
            self._wakeup.clear()
            try:
                asked = await self._step()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.failures += 1
                log.exception("background.step_failed", loop=self.name)
                asked = None
            wait_s = self._wait_s(asked)
            if wait_s == 0:
                await asyncio.sleep(0)
                continue
            with contextlib.suppress(TimeoutError):
                await within(self._wakeup.wait(), wait_s)
