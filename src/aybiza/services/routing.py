"""Which version of the agent a call to a number runs: the number's pinned version, else a
weighted choice across versions (A/B tests), else the agent's published version."""

from __future__ import annotations

import random
from collections.abc import Mapping


def choose_version(
    *,
    pinned: str | None,
    weights: Mapping[str, int] | None,
    published: str | None,
    rng: random.Random,
) -> str | None:
    """The version to run; None only when the agent has nothing published and no routing."""
    if pinned is not None:
        return pinned
    if weights:
        # Sorted so the same seed picks the same versions whatever order the JSON had.
        choices = [(version, weight) for version, weight in sorted(weights.items()) if weight > 0]
        if choices:
            versions, shares = zip(*choices, strict=True)
            chosen: str = rng.choices(versions, weights=shares, k=1)[0]
            return chosen
    return published
