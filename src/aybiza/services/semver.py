"""Ordering and bumping of agent versions (semver 2.0.0 precedence; build metadata ignored)."""

from __future__ import annotations

from collections.abc import Iterable

_Key = tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]


def version_key(version: str) -> _Key:
    """A sort key: release before its pre-releases' successors, numeric identifiers numerically."""
    core, _, _build = version.partition("+")
    release, _, pre = core.partition("-")
    major, minor, patch = (int(part) for part in release.split("."))
    if not pre:
        # A release sorts after every pre-release of the same numbers.
        return (major, minor, patch, 1, ())
    identifiers = tuple(
        (0, int(item), "") if item.isdigit() else (1, 0, item) for item in pre.split(".")
    )
    return (major, minor, patch, 0, identifiers)


def highest(versions: Iterable[str]) -> str | None:
    """The highest version, or None for none."""
    return max(versions, key=version_key, default=None)


def bump_patch(version: str) -> str:
    """The next patch release: ``1.2.3`` -> ``1.2.4``; ``1.3.0-beta.1`` -> ``1.3.0``."""
    core = version.partition("+")[0]
    release, _, pre = core.partition("-")
    major, minor, patch = (int(part) for part in release.split("."))
    if pre:
        return f"{major}.{minor}.{patch}"
    return f"{major}.{minor}.{patch + 1}"
