"""Rules behind the API, checked directly: semver ordering and bumps, the weighted choice of
a version (seeded), and unit prices from ``AYBIZA_PRICES``."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta

import pytest

from aybiza.analytics.cost import PriceTable, call_cost
from aybiza.config import Settings
from aybiza.services.routing import choose_version
from aybiza.services.semver import bump_patch, highest, version_key
from aybiza.store.models import Call, Turn, utcnow


def test_versions_sort_by_semver_precedence() -> None:
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0",
        "1.2.0",
        "1.10.0",
        "2.0.0",
    ]
    assert sorted(reversed(ordered), key=version_key) == ordered
    assert highest(["1.9.0", "1.10.0+build.7"]) == "1.10.0+build.7"
    assert bump_patch("1.2.3") == "1.2.4" and bump_patch("2.0.0-rc.1") == "2.0.0"
    assert bump_patch("1.0.0+build") == "1.0.1"


def test_the_weighted_choice_follows_the_weights_and_the_seed() -> None:
    weights = {"1.1.0": 25, "1.0.0": 75, "2.0.0": 0}
    rng = random.Random(42)
    picks = Counter(
        choose_version(pinned=None, weights=weights, published=None, rng=rng) for _ in range(4000)
    )
    assert set(picks) == {"1.0.0", "1.1.0"}
    assert 900 <= picks["1.1.0"] <= 1100
    again = random.Random(42)
    assert [
        choose_version(pinned=None, weights=weights, published=None, rng=again) for _ in range(4000)
    ] == list(_replay(weights, 42))
    assert choose_version(pinned="1.1.0", weights=weights, published="1.0.0", rng=rng) == "1.1.0"
    assert choose_version(pinned=None, weights=None, published="1.0.0", rng=rng) == "1.0.0"
    assert choose_version(pinned=None, weights={"1.0.0": 0}, published="3.0.0", rng=rng) == "3.0.0"


def _replay(weights: dict[str, int], seed: int) -> list[str | None]:
    rng = random.Random(seed)
    return [
        choose_version(pinned=None, weights=weights, published=None, rng=rng) for _ in range(4000)
    ]


def test_prices_merge_over_the_defaults_and_bad_ones_name_the_field(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "AYBIZA_PRICES", '{"telephony_per_minute": 0.02, "tts_per_1k_chars": {"deepgram": 0.015}}'
    )
    prices = PriceTable.from_json(Settings.from_env().prices)
    assert prices.telephony_per_minute == 0.02
    assert prices.tts_per_1k_chars == {"deepgram": 0.015, "espeak": 0.0}
    assert prices.stt_per_minute["deepgram"] == 0.0077
    with pytest.raises(ValueError, match=r"AYBIZA_PRICES\.telephony_per_minute"):
        PriceTable.from_json('{"telephony_per_minute": -1}')
    with pytest.raises(ValueError, match="not valid JSON"):
        PriceTable.from_json("{")
    with pytest.raises(ValueError, match=r"AYBIZA_PRICES\.llm_per_1k_tokens"):
        PriceTable.from_json('{"llm_per_1k_tokens": {"bedrock": {"in": 1}}}')


def test_embedded_engines_cost_nothing_but_the_line() -> None:
    ended = utcnow()
    call = Call(
        call_sid="CA" + "1" * 32,
        engines={"stt": "pocketsphinx", "tts": "espeak", "llm": "flow"},
        stats={"duration_s": 59.0},
        created_at=ended - timedelta(seconds=61),
        started_at=ended - timedelta(seconds=59),
        ended_at=ended,
    )
    turn = Turn(index=1, agent_text="x" * 5000, model="flow", usage={"input_tokens": 9})
    cost = call_cost(call, [turn], PriceTable())
    assert (cost["stt"], cost["tts"], cost["llm"]) == (0.0, 0.0, 0.0)
    assert cost["telephony"] == pytest.approx(2 * 0.0085)
    assert cost["total"] == cost["telephony"]
