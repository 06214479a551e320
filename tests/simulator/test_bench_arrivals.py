"""The load generator's arrival shapes (``bench.arrivals``) and where a run's processes go
(``bench.setups.cores_for``)."""

from __future__ import annotations

import itertools
import random

import pytest
from bench.arrivals import (
    MAX_CALL_S,
    MIN_CALL_S,
    mean_concurrency,
    peak_concurrency,
    poisson,
    ramp,
)
from bench.setups import cores_for


def test_a_ramp_starts_calls_evenly_and_each_speaks_its_lines_once() -> None:
    arrivals = ramp(4, 2.0)
    assert [a.at_s for a in arrivals] == [0.0, 0.5, 1.0, 1.5]
    assert all(a.hold_s is None for a in arrivals)


def test_poisson_arrivals_have_the_rate_and_durations_asked_for() -> None:
    arrivals = poisson(rate=5.0, window_s=2000.0, mean_call_s=30.0, rng=random.Random(1))
    # 10,000 expected; a Poisson count's standard deviation is 100.
    assert 9_600 < len(arrivals) < 10_400
    times = [a.at_s for a in arrivals]
    assert times == sorted(times) and times[0] > 0 and times[-1] < 2000.0
    holds = [a.hold_s for a in arrivals if a.hold_s is not None]
    assert len(holds) == len(arrivals)
    assert min(holds) >= MIN_CALL_S and max(holds) <= MAX_CALL_S
    # Exponential, mean 30, clipped below at 10: 10 + 30 e^(-1/3) = 31.5 (the clip at 180
    # takes off 0.07).
    assert 31.0 < sum(holds) / len(holds) < 32.0
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Exponential gaps: about as many shorter than half the mean as the theory says (39 %).
    short = sum(1 for gap in gaps if gap < 0.1) / len(gaps)
    assert 0.36 < short < 0.43


def test_poisson_refuses_a_zero_rate() -> None:
    with pytest.raises(ValueError, match="positive"):
        poisson(rate=0, window_s=10, mean_call_s=30, rng=random.Random(1))


def test_concurrency_of_call_intervals() -> None:
    intervals = [(0.0, 10.0), (5.0, 15.0), (10.0, 20.0), (30.0, 40.0)]
    assert peak_concurrency(intervals) == 2  # the first ends as the third rings
    assert mean_concurrency(intervals) == pytest.approx(40.0 / 40.0)
    assert peak_concurrency([]) == 0 and mean_concurrency([]) == 0.0


def test_one_worker_has_core_zero_and_the_load_the_others() -> None:
    cores = cores_for(1, cpu_count=2)
    assert (cores.server, cores.fakes, cores.generator, cores.shared) == ("0", "1", {1}, False)


def test_two_workers_take_two_cores_and_leave_the_rest_to_the_load() -> None:
    cores = cores_for(2, cpu_count=8)
    assert (cores.server, cores.fakes, cores.generator, cores.shared) == (
        "0-1",
        "2,3,4,5,6,7",
        {2, 3, 4, 5, 6, 7},
        False,
    )


def test_two_workers_on_two_cores_share_them_with_the_load_and_say_so() -> None:
    cores = cores_for(2, cpu_count=2)
    assert (cores.server, cores.fakes, cores.generator, cores.shared) == ("0-1", "0-1", None, True)
