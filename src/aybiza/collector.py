"""Python's cyclic garbage collector, set up for a long-running call server.

By the time the server is ready it holds hundreds of thousands of objects that live as long as
the process: imported modules, FastAPI routes, SQLAlchemy mappers, pydantic schemas, engine
clients. Every full collection walked all of them again, and with calls running the collector
ran often (each media message allocates a few short-lived containers): profiled at 10 calls it
was a quarter of the event loop's busy time. ``freeze`` moves everything alive at start-up out of
the collector's sight (``gc.freeze``), so a collection only walks what calls allocated since.

Every collection stops every call in the process, so each pause is measured
(``aybiza_gc_pause_seconds``). In a 40 s run of 200 calls on one core (``bench.loadgen``) with
Python's default thresholds (700, 10, 10) there were 275 young collections (0.8 ms on average),
24 middle ones (3 ms) and 2 full ones (20-40 ms, long enough to show in the p99 of turn
latency); with ``YOUNG_THRESHOLD`` at 5000 there were 29 young ones (2.4 ms), 2 middle ones
(13 ms) and no full one: a seventh of the collections, a third of the time paused.
"""

from __future__ import annotations

import gc
import time
from typing import Any

import structlog

from aybiza.analytics import metrics

log = structlog.get_logger(__name__)

# Allocations (net of frees) of tracked objects between young collections; Python's is 700.
YOUNG_THRESHOLD = 5000
_started = 0.0


def _time_collection(phase: str, info: dict[str, Any]) -> None:
    global _started
    if phase == "start":
        _started = time.perf_counter()
    else:
        metrics.GC_PAUSES.labels(str(info["generation"])).observe(time.perf_counter() - _started)


def freeze() -> None:
    """Collect once, exempt every object alive now from future collections, collect young
    objects less often, and time every collection from now on. Called once per server
    process, when start-up has loaded everything."""
    gc.collect()
    gc.freeze()
    _, middle, full = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, full)
    if _time_collection not in gc.callbacks:
        gc.callbacks.append(_time_collection)
    log.info("gc.frozen", objects=gc.get_freeze_count())
