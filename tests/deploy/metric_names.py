"""The names of the series the server exports at ``GET /metrics``, read from its registry (a
histogram exports ``_bucket``, ``_sum`` and ``_count``, a counter ``_total``)."""

from __future__ import annotations

import re

from prometheus_client import REGISTRY

# Importing the app registers every metric of the server.
import aybiza.app  # noqa: F401

METRIC = re.compile(r"\baybiza_[a-z0-9_]+\b")
# Recording rules' names (``level:metric:operations``) are not series the server exports.
RECORDED = re.compile(r"\b[a-z_]+:[a-z0-9_:]+")


def exported_series() -> set[str]:
    names: set[str] = set()
    for family in REGISTRY.collect():
        if not family.name.startswith("aybiza_"):
            continue
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(family.name)
    return names


def named_metrics(expr: str) -> set[str]:
    """The ``aybiza_*`` metric names a PromQL expression reads."""
    return set(METRIC.findall(RECORDED.sub("", expr)))
