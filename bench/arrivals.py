"""When the load generator's callers ring, and for how long they stay.

Two shapes:

- a **ramp** (the default): N calls started evenly over a few seconds, each speaking its three
  lines once: the load the capacity sweep holds at a fixed N;
- **Poisson arrivals**: calls ring at random, independently, at ``rate`` calls a second for
  ``window_s`` seconds (exponential gaps between rings), each staying a random time
  (exponential, mean ``mean_call_s``, clipped to ``[MIN_CALL_S, MAX_CALL_S]``) and speaking
  its lines in turn until then. Concurrency then wanders around ``rate * mean_call_s`` (Little's
  law) with the bursts and lulls of real traffic, calls starting and ending while others talk.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

# A Poisson call speaks at least one line (greeting and a turn take about 10 s) and never
# holds the run open for long.
MIN_CALL_S = 10.0
MAX_CALL_S = 180.0


@dataclass(frozen=True, slots=True)
class Arrival:
    """One caller: rings ``at_s`` seconds into the run and hangs up once ``hold_s`` seconds have
    passed since it rang (after the answer in progress; None: after its lines, once each)."""

    at_s: float
    hold_s: float | None


def ramp(calls: int, ramp_s: float) -> list[Arrival]:
    """``calls`` callers started evenly over ``ramp_s`` seconds, each speaking its lines once."""
    return [Arrival(ramp_s * i / max(calls, 1), None) for i in range(calls)]


def poisson(
    *, rate: float, window_s: float, mean_call_s: float, rng: random.Random
) -> list[Arrival]:
    """Callers ringing as a Poisson process of ``rate`` calls a second over ``window_s``
    seconds, each holding an exponential time of mean ``mean_call_s`` (clipped)."""
    if rate <= 0 or window_s <= 0 or mean_call_s <= 0:
        raise ValueError("rate, window_s and mean_call_s must be positive")
    arrivals: list[Arrival] = []
    at = rng.expovariate(rate)
    while at < window_s:
        hold = min(MAX_CALL_S, max(MIN_CALL_S, rng.expovariate(1 / mean_call_s)))
        arrivals.append(Arrival(at, hold))
        at += rng.expovariate(rate)
    return arrivals


def peak_concurrency(intervals: Sequence[tuple[float, float]]) -> int:
    """The most calls up at once, over ``(start, end)`` intervals (an end before a start at the
    same instant: a call that ends as another rings does not overlap it)."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    live = peak = 0
    for _, change in events:
        live += change
        peak = max(peak, live)
    return peak


def mean_concurrency(intervals: Sequence[tuple[float, float]]) -> float:
    """Calls up on average between the first ring and the last hang-up."""
    if not intervals:
        return 0.0
    span = max(end for _, end in intervals) - min(start for start, _ in intervals)
    busy = sum(end - start for start, end in intervals)
    return busy / span if span > 0 else float(len(intervals))
