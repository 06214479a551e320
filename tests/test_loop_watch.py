"""The event-loop watch: lateness of its wake-ups, the longest stall of recent windows."""

from __future__ import annotations

import asyncio
import time

import pytest

from aybiza.analytics import metrics
from aybiza.loop_watch import LoopWatch


def _lateness_count() -> float:
    for family in metrics.LOOP_LATENESS.collect():
        for sample in family.samples:
            if sample.name.endswith("_count"):
                return sample.value
    raise AssertionError("no count sample")


def _hold_the_loop(seconds: float) -> None:
    """Block the thread, as a slow synchronous call on the event loop would."""
    time.sleep(seconds)


def test_the_longest_stall_is_kept_for_two_windows_then_forgotten() -> None:
    watch = LoopWatch(interval_s=0.01, window_s=1.0)
    watch.record(0.002, now=0.1)
    watch.record(0.150, now=0.5)
    watch.record(0.001, now=0.9)
    assert watch.longest_s == pytest.approx(0.150)
    watch.record(0.003, now=1.2)  # a new window: the previous one still counts
    assert watch.longest_s == pytest.approx(0.150)
    watch.record(0.004, now=2.3)  # two windows on: forgotten
    assert watch.longest_s == pytest.approx(0.004)
    assert metrics.LOOP_STALL_LONGEST._value.get() == pytest.approx(0.004)


def test_an_early_wake_up_counts_as_no_lateness() -> None:
    watch = LoopWatch(interval_s=0.01, window_s=1.0)
    watch.record(-0.001, now=0.1)
    assert watch.longest_s == 0.0


def test_interval_must_be_shorter_than_the_window() -> None:
    with pytest.raises(ValueError, match="interval_s"):
        LoopWatch(interval_s=1.0, window_s=1.0)


async def test_a_blocked_loop_is_measured_as_a_stall() -> None:
    watch = LoopWatch(interval_s=0.005, window_s=10.0)
    before = _lateness_count()
    watch.start()
    try:
        await asyncio.sleep(0.02)
        _hold_the_loop(0.08)
        await asyncio.sleep(0.02)
    finally:
        await watch.stop()
    assert watch.longest_s >= 0.05
    assert _lateness_count() > before
