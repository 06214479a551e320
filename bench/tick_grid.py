"""The crowds' shared clock: tick ``k`` is due at ``t0 + k * period`` (20 ms, a Twilio frame), a
fixed grid on which a late wake-up is caught up, never accumulated."""

from __future__ import annotations

import math

from aybiza.audio.codec import FRAME_MS

FRAME_S = FRAME_MS / 1000
# The ticker never sleeps less than this: a timer shorter than the loop's resolution would spin.
MIN_SLEEP_S = 0.001


def tick_index(now: float, t0: float, period_s: float = FRAME_S) -> int:
    """The last tick due at ``now`` on the grid ``t0 + k * period_s`` (-1 before ``t0``). A tick
    counts as due a hair (a millionth of a period) early, so that float rounding of
    ``tick_at(k)`` cannot read as tick ``k - 1``."""
    return math.floor((now - t0) / period_s + 1e-6)


def tick_at(index: int, t0: float, period_s: float = FRAME_S) -> float:
    """When tick ``index`` is due."""
    return t0 + index * period_s


def frames_due(next_tick: int, due_tick: int) -> int:
    """Frames a caller owes at tick ``due_tick`` when its next frame belongs to ``next_tick``:
    one per tick, including the ticks a late wake-up skipped."""
    return max(0, due_tick - next_tick + 1)
