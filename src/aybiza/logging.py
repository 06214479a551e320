"""Structured logs (structlog) for the server and the CLI.

A call's logs may quote what its caller said (a recogniser's message, an error); the service that
runs the call binds its agent's redactor with ``bind_text_filter`` and every string in a log
event made in that call's context passes through it before it is written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from contextvars import ContextVar
from typing import Any

import structlog

TextFilter = Callable[[str], str]
_TEXT_FILTER: ContextVar[TextFilter | None] = ContextVar("aybiza_log_text_filter", default=None)


def bind_text_filter(text_filter: TextFilter | None) -> None:
    """Filter every string of the log events made from now on in this context (the current
    task and the tasks it starts); None logs them as they are."""
    _TEXT_FILTER.set(text_filter)


def filter_text(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """The structlog processor applying the context's text filter (after ``format_exc_info``,
    so a traceback's message is filtered too)."""
    text_filter = _TEXT_FILTER.get()
    if text_filter is None:
        return event_dict
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = text_filter(value)
    return event_dict


def configure_logging(level: str = "info") -> None:
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    logging.basicConfig(level=numeric, format="%(message)s")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.format_exc_info,
            filter_text,
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=True,
    )
