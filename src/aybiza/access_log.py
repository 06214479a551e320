"""The HTTP access log must not write down the number of a caller being erased: uvicorn logs
each request line, and ``DELETE /v1/callers/{number}`` carries the number in its path.
``CallerPathFilter`` on uvicorn's access logger writes the route's template instead."""

from __future__ import annotations

import logging
import re

ACCESS_LOGGER = "uvicorn.access"
_CALLER_PATH = re.compile(r"^(/v1/callers/)[^/?#]+")
TEMPLATE = r"\1{number}"


class CallerPathFilter(logging.Filter):
    """Rewrites the path of uvicorn's access records (``%(client)s - "%(method)s %(path)s
    ..."``: the path is the third argument) under ``/v1/callers/``."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], _CALLER_PATH.sub(TEMPLATE, args[2]), *args[3:])
        return True


def install_caller_path_filter() -> None:
    """Add the filter to uvicorn's access logger once (idempotent)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, CallerPathFilter) for f in logger.filters):
        logger.addFilter(CallerPathFilter())
