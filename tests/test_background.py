"""``BackgroundLoop``, the one way the platform runs periodic work: it runs its step, ``wake()``
cuts the wait short, a failing step is logged and the loop goes on, and ``stop()`` ends it."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from aybiza.background import BackgroundLoop

# A long interval: a step that runs again within a test's life was woken or asked for it.
LONG_S = 60.0


class Steps:
    """A step that counts its runs (failing the ones listed in ``fail``), asking for ``waits``
    (None: the loop's interval) in turn."""

    def __init__(self, *, fail: tuple[int, ...] = (), waits: tuple[float | None, ...] = ()):
        self.runs = 0
        self._fail = fail
        self._waits = list(waits)
        self._ran = asyncio.Event()

    async def __call__(self) -> float | None:
        self.runs += 1
        self._ran.set()
        if self.runs in self._fail:
            raise RuntimeError("database unreachable")
        return self._waits.pop(0) if self._waits else None

    async def reach(self, runs: int, limit_s: float = 10.0) -> None:
        """Wait for ``runs`` runs (a deadline so a broken loop fails, not a speed check)."""
        async with asyncio.timeout(limit_s):
            while self.runs < runs:
                self._ran.clear()
                await self._ran.wait()


async def test_the_step_runs_again_after_the_interval() -> None:
    steps = Steps()
    loop = BackgroundLoop("ticks", steps, interval_s=0.01)
    loop.start()
    try:
        await steps.reach(3)
    finally:
        await loop.stop()


async def test_wake_cuts_the_wait_short() -> None:
    steps = Steps()
    loop = BackgroundLoop("woken", steps, interval_s=LONG_S)
    loop.start()
    try:
        await steps.reach(1)
        loop.wake()
        await steps.reach(2)
    finally:
        await loop.stop()
    assert steps.runs == 2


async def test_a_step_asking_for_no_wait_runs_again_at_once() -> None:
    steps = Steps(waits=(0.0, 0.0))
    loop = BackgroundLoop("backlog", steps, interval_s=LONG_S)
    loop.start()
    try:
        await steps.reach(3)
    finally:
        await loop.stop()
    assert steps.runs == 3


async def test_a_failing_step_is_logged_and_the_loop_goes_on() -> None:
    steps = Steps(fail=(1,))
    loop = BackgroundLoop("flaky", steps, interval_s=0.01)
    with capture_logs() as logs:
        loop.start()
        try:
            await steps.reach(2)
        finally:
            await loop.stop()
    assert loop.failures == 1
    [failed] = [entry for entry in logs if entry["event"] == "background.step_failed"]
    assert failed["loop"] == "flaky" and failed["log_level"] == "error"


async def test_stop_ends_the_loop_and_no_step_runs_after_it() -> None:
    steps = Steps()
    loop = BackgroundLoop("stopped", steps, interval_s=0.01)
    loop.start()
    await steps.reach(1)
    await loop.stop()
    assert not loop.running
    runs = steps.runs
    loop.wake()
    await asyncio.sleep(0.05)
    assert steps.runs == runs
    await loop.stop()  # stopping twice is harmless


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval_s must be positive"):
        BackgroundLoop("bad", Steps(), interval_s=0)
