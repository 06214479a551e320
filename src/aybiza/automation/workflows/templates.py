"""``{{path}}`` placeholders in workflow steps, and conditions over the run's context.

The context of a run is ``{"event": ..., "call": ..., "run": ..., "steps": {id: output}}``.
A string that is exactly one placeholder becomes the value itself (a number stays a number, an
object an object); placeholders inside longer text are replaced by the value as text (JSON for
objects and lists, empty for missing values).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from aybiza.automation.workflows.spec import Condition

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}")
_MISSING = object()


def lookup(context: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path (list items by index); ``None`` when absent."""
    value = _get(context, path)
    return None if value is _MISSING else value


def _get(context: Mapping[str, Any], path: str) -> Any:
    value: Any = context
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def render(template: Any, context: Mapping[str, Any]) -> Any:
    """``template`` with every placeholder filled from ``context``."""
    if isinstance(template, str):
        whole = _PLACEHOLDER.fullmatch(template.strip())
        if whole is not None:
            return lookup(context, whole.group(1))
        return _PLACEHOLDER.sub(lambda match: _as_text(lookup(context, match.group(1))), template)
    if isinstance(template, Mapping):
        return {str(key): render(value, context) for key, value in template.items()}
    if isinstance(template, list):
        return [render(item, context) for item in template]
    return template


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def holds(condition: Condition, context: Mapping[str, Any]) -> bool:
    """Whether the condition is true of the context (comparisons of mismatched types are
    false rather than errors)."""
    found = _get(context, condition.path)
    value = None if found is _MISSING else found
    expected = condition.value
    op = condition.op
    if op == "exists":
        return found is not _MISSING and value is not None
    if op == "truthy":
        return bool(value)
    if op == "falsy":
        return not value
    if op == "eq":
        return bool(value == expected)
    if op == "ne":
        return bool(value != expected)
    if op == "contains":
        if isinstance(value, str) and isinstance(expected, str):
            return expected.lower() in value.lower()
        return isinstance(value, list | dict) and expected in value
    if op == "in":
        return isinstance(expected, list | str) and value in expected
    return _compare(op, value, expected)


def _compare(op: str, value: Any, expected: Any) -> bool:
    numbers = (int, float)
    comparable = (isinstance(value, numbers) and isinstance(expected, numbers)) or (
        isinstance(value, str) and isinstance(expected, str)
    )
    if not comparable or isinstance(value, bool) or isinstance(expected, bool):
        return False
    if op == "gt":
        return bool(value > expected)
    if op == "gte":
        return bool(value >= expected)
    if op == "lt":
        return bool(value < expected)
    return bool(value <= expected)
