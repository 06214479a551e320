"""The capacity search's decisions, as pure functions over the runs measured so far.

The search raises N (concurrent calls) along a ladder — 40, 80, 160, 240, 320, 400, 480 calls
per core, then 80 more at a time — until a run fails the real-time criterion, then bisects
between the largest pass below that failure and the failure, until the two are at most
``resolution`` calls apart. The capacity is that largest pass.

A run passes when no call failed, no call had an underrun longer than 40 ms inside an answer
and the reply p99 stays within 20 ms of the unloaded p99 (``passes``). The machine is noisy, so
results need not be monotonic: the lowest failure bounds the search, and a pass above it is
kept in the record but not counted.

    outcomes: dict[int, bool] = {}
    while (calls := next_calls(outcomes, Plan(cores=1))) is not None:
        outcomes[calls] = passes(measure(calls))
    capacity(outcomes)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# Calls per core: the ladder, then this step past its top.
LADDER = (40, 80, 160, 240, 320, 400, 480)
STEP = 80
# The real-time criterion.
GAP_LIMIT_MS = 40.0  # an underrun inside an answer longer than this is heard
ADDED_P99_LIMIT_MS = 20.0  # reply p99 over the unloaded p99
# Reported beside the criterion (the target), not part of it.
GREETING_P95_LIMIT_MS = 100.0


@dataclass(frozen=True, slots=True)
class Plan:
    """How one setup is searched: its ladder in calls per core, scaled by ``cores``; the step
    past the ladder; bisection until ``resolution`` calls (per core) separate a pass from a
    failure; never above ``ceiling`` calls per core."""

    cores: int = 1
    ladder: tuple[int, ...] = LADDER
    step: int = STEP
    resolution: int = 10
    ceiling: int = 4000

    def __post_init__(self) -> None:
        if self.cores < 1:
            raise ValueError(f"cores must be at least 1, got {self.cores}")
        if not self.ladder or any(n < 1 for n in self.ladder):
            raise ValueError(f"ladder must be positive call counts, got {self.ladder}")
        if list(self.ladder) != sorted(set(self.ladder)):
            raise ValueError(f"ladder must rise strictly, got {self.ladder}")
        if self.step < 1 or self.resolution < 1:
            raise ValueError("step and resolution must be at least 1")


def passes(*, failed_calls: int, calls_with_gaps: int, added_p99_ms: float | None) -> bool:
    """The real-time criterion: no failed call, no audible underrun (> 40 ms, counted per call
    by the load generator) and reply p99 within 20 ms of the unloaded p99. A run with no reply
    measured (``added_p99_ms`` None) fails."""
    return (
        failed_calls == 0
        and calls_with_gaps == 0
        and added_p99_ms is not None
        and added_p99_ms < ADDED_P99_LIMIT_MS
    )


def _bounds(outcomes: Mapping[int, bool]) -> tuple[int, int | None]:
    """The largest pass below the lowest failure (0 if none), and that failure (None if none)."""
    failures = [n for n, ok in outcomes.items() if not ok]
    lowest_failure = min(failures) if failures else None
    below = [
        n for n, ok in outcomes.items() if ok and (lowest_failure is None or n < lowest_failure)
    ]
    return max(below, default=0), lowest_failure


def next_calls(outcomes: Mapping[int, bool], plan: Plan) -> int | None:
    """The next N to measure given ``outcomes`` (N → passed), or None when the search is done:
    a pass and a failure at most ``resolution`` apart (or a failure at ``resolution`` or
    fewer calls), or the ceiling passed."""
    best, failure = _bounds(outcomes)
    scale = plan.cores
    if failure is None:
        for rung in plan.ladder:
            if rung * scale > best:
                return rung * scale
        following = best + plan.step * scale
        return following if following <= plan.ceiling * scale else None
    if failure - best <= plan.resolution * scale:
        return None
    middle = (best + failure) // 2
    # Whole calls per core where it can (the figures are read per core).
    rounded = middle - middle % scale
    return rounded if best < rounded < failure else middle


def capacity(outcomes: Mapping[int, bool]) -> int:
    """The largest N that passed below the lowest failure (0 if none passed)."""
    return _bounds(outcomes)[0]


def per_core(calls: int, cores: int) -> float:
    """Calls per core, as the headline reads."""
    return calls / cores


def ratio(two: int, one: int) -> float | None:
    """Capacity of a setup over another's (``--workers 2`` over one worker), None without a
    denominator."""
    return None if one <= 0 else two / one
