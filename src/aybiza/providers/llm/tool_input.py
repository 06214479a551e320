"""Tool arguments that arrive as JSON text in pieces, turned into the dict a ``ToolCall`` holds."""

from __future__ import annotations

import json
from typing import Any

from aybiza.providers.errors import ModelStreamError


def parse_tool_input(engine: str, tool_name: str, raw: str) -> dict[str, Any]:
    """Parse the joined JSON fragments of one tool call's arguments.

    No fragments at all means a tool without arguments. Anything but a JSON object is the
    model's failure mid-answer, so it raises ``ModelStreamError`` with what was received.
    """
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ModelStreamError(
            engine, f"arguments of tool {tool_name!r} are not valid JSON ({exc}): {raw[:200]!r}"
        ) from exc
    if not isinstance(value, dict):
        raise ModelStreamError(
            engine, f"arguments of tool {tool_name!r} must be a JSON object, got: {raw[:200]!r}"
        )
    return value
