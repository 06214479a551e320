"""The capacity search's decisions (``bench.capacity``): which N comes next, when it stops,
what capacity it reports, on made-up outcomes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from bench.capacity import Plan, capacity, next_calls, passes, ratio


def _search(limit: Callable[[int], bool], plan: Plan) -> tuple[list[int], dict[int, bool]]:
    """Run the search against a server that passes exactly when ``limit(N)``."""
    measured: list[int] = []
    outcomes: dict[int, bool] = {}
    while (calls := next_calls(outcomes, plan)) is not None:
        assert calls not in outcomes, f"measured {calls} twice"
        measured.append(calls)
        outcomes[calls] = limit(calls)
        assert len(measured) < 100
    return measured, outcomes


def test_climbs_the_ladder_then_bisects_to_the_resolution() -> None:
    measured, outcomes = _search(lambda n: n <= 287, Plan())
    assert measured[:6] == [40, 80, 160, 240, 320, 280]
    # 280 passes, 300 and 290 fail: a pass and a failure 10 calls apart end it.
    assert measured[6:] == [300, 290]
    assert capacity(outcomes) == 280


def test_past_the_ladder_it_steps_by_eighty() -> None:
    measured, outcomes = _search(lambda n: n <= 700, Plan())
    assert measured[:10] == [40, 80, 160, 240, 320, 400, 480, 560, 640, 720]
    assert 690 <= capacity(outcomes) <= 700
    best = capacity(outcomes)
    assert not outcomes[min(n for n, ok in outcomes.items() if not ok)]
    assert min(n for n, ok in outcomes.items() if not ok) - best <= 10


def test_two_cores_climb_a_ladder_twice_as_high_and_stay_on_whole_calls_per_core() -> None:
    measured, outcomes = _search(lambda n: n <= 575, Plan(cores=2))
    assert measured[:6] == [80, 160, 320, 480, 640, 560]
    assert all(n % 2 == 0 for n in measured)
    assert 556 <= capacity(outcomes) <= 575


def test_a_first_rung_that_fails_bisects_down_towards_zero() -> None:
    measured, outcomes = _search(lambda n: n <= 12, Plan())
    assert measured == [40, 20, 10]
    assert capacity(outcomes) == 10


def test_nothing_passes_gives_zero() -> None:
    _, outcomes = _search(lambda n: False, Plan())
    assert capacity(outcomes) == 0
    assert max(outcomes) == 40


def test_a_noisy_pass_above_the_lowest_failure_does_not_count() -> None:
    outcomes = {40: True, 80: True, 160: False, 240: True}
    assert capacity(outcomes) == 80
    assert next_calls(outcomes, Plan()) == 120


def test_stops_at_the_ceiling_when_nothing_fails() -> None:
    measured, outcomes = _search(lambda n: True, Plan(ladder=(2, 4), step=2, ceiling=8))
    assert measured == [2, 4, 6, 8]
    assert capacity(outcomes) == 8


def test_a_small_plan_for_checking_the_harness() -> None:
    measured, outcomes = _search(lambda n: n <= 5, Plan(ladder=(2, 4, 8), resolution=1))
    assert measured == [2, 4, 8, 6, 5]
    assert capacity(outcomes) == 5


@pytest.mark.parametrize(
    ("failed", "gaps", "added", "expected"),
    [
        (0, 0, 19.9, True),
        (0, 0, 20.0, False),
        (1, 0, 0.0, False),
        (0, 1, 0.0, False),
        (0, 0, None, False),
        (0, 0, -5.0, True),
    ],
)
def test_the_real_time_criterion(
    failed: int, gaps: int, added: float | None, expected: bool
) -> None:
    assert passes(failed_calls=failed, calls_with_gaps=gaps, added_p99_ms=added) is expected


def test_plans_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="cores"):
        Plan(cores=0)
    with pytest.raises(ValueError, match="rise"):
        Plan(ladder=(80, 40))
    with pytest.raises(ValueError, match="positive"):
        Plan(ladder=())


def test_ratio() -> None:
    assert ratio(760, 400) == pytest.approx(1.9)
    assert ratio(10, 0) is None
