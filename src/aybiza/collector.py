"""Python's cyclic garbage collector, set up for a long-running call server.

By the time the server is ready it holds hundreds of thousands of objects that live as long as
the process: imported modules, FastAPI routes, SQLAlchemy mappers, pydantic schemas, engine
clients. Every full collection walked all of them again, and with calls running the collector
ran often (each media message allocates a few short-lived containers): profiled at 10 calls it
was a quarter of the event loop's busy time. ``freeze`` moves everything alive at start-up out of
the collector's sight (``gc.freeze``), so a collection only walks what calls allocated since.
"""

from __future__ import annotations

import gc

import structlog

log = structlog.get_logger(__name__)


def freeze() -> None:
    """Collect once, then exempt every object alive now from future collections. Called once
    per server process, when start-up has loaded everything."""
    gc.collect()
    gc.freeze()
    log.info("gc.frozen", objects=gc.get_freeze_count())
