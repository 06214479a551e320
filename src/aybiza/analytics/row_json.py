"""Rows as the API's JSON and the webhooks show them: chosen columns, in order, under the names
shown, with timestamps as ISO 8601 in UTC with a ``Z`` (so a webhook carries the same text as
the API response about the same row)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, as the API's JSON writes datetimes, or None."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def row_json(
    row: object, columns: str, shown_as: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The ``columns`` of ``row`` (their names separated by spaces, as ``namedtuple`` takes its
    fields) in that order, each under ``shown_as[column]`` or its own name; datetimes as
    ``iso``."""
    renamed = shown_as or {}
    shown: dict[str, Any] = {}
    for column in columns.split():
        value = getattr(row, column)
        shown[renamed.get(column, column)] = iso(value) if isinstance(value, datetime) else value
    return shown
