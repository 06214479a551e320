"""The reconnect budget on its own, in simulated time: backoff growth and reset, the jitter's
range, and the per-minute cap sliding with the clock."""

from __future__ import annotations

import pytest

from aybiza.providers.errors import ReconnectGaveUpError
from aybiza.providers.stt.reconnect_budget import ReconnectBudget, ReconnectLimits


class SimulatedTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def budget(time_: SimulatedTime, jitter: float = 1.0) -> ReconnectBudget:
    limits = ReconnectLimits(clock=time_.clock, sleep=time_.sleep, jitter=lambda: jitter)
    return ReconnectBudget("deepgram", limits)


async def test_backoff_doubles_up_to_the_maximum_and_starts_over_after_recovery() -> None:
    time_ = SimulatedTime()
    reconnects = budget(time_)
    for _ in range(7):
        await reconnects.before_reconnect()
    assert reconnects.waits_s == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    reconnects.recovered()
    assert reconnects.next_delay_s() == 0.25


@pytest.mark.parametrize(("jitter", "expected"), [(0.0, 0.125), (0.5, 0.1875), (1.0, 0.25)])
def test_jitter_keeps_each_wait_between_half_and_all_of_the_backoff(
    jitter: float, expected: float
) -> None:
    assert budget(SimulatedTime(), jitter).next_delay_s() == expected


async def test_the_eleventh_reconnect_within_a_minute_gives_up_and_a_later_minute_has_room() -> (
    None
):
    time_ = SimulatedTime()
    reconnects = budget(time_)
    for _ in range(10):
        await reconnects.before_reconnect()
        reconnects.recovered()  # healthy in between: only the cap stops the eleventh
    with pytest.raises(ReconnectGaveUpError, match="10 reconnects in the last 60 s") as gave_up:
        await reconnects.before_reconnect()
    assert gave_up.value.attempts == 10 and gave_up.value.window_s == 60.0

    spaced = budget(time_)
    for _ in range(10):
        await spaced.before_reconnect()
        spaced.recovered()
        time_.now += 7.0  # one drop every 7 s: never ten inside one minute
    await spaced.before_reconnect()
    assert spaced.total == 11


def test_limits_refuse_a_backoff_above_its_maximum() -> None:
    with pytest.raises(ValueError, match="initial_backoff_s <= max_backoff_s"):
        ReconnectLimits(initial_backoff_s=5.0, max_backoff_s=1.0)
