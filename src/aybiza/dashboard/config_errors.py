"""Where in the agent JSON a schema error points: the line of the field its path names, so the
editor can show each error at its field."""

from __future__ import annotations

import json
from dataclasses import dataclass

from aybiza.agents.errors import FieldError


@dataclass(frozen=True, slots=True)
class ShownError:
    """An error as the editor lists it: the field's path, its line (1-based; None when the
    field is missing from the text) and the message."""

    path: str
    line: int | None
    message: str


def field_line(text: str, path: str) -> int | None:
    """The line of ``path`` (``a.b.2.c``) in the JSON ``text``: each named key is looked for
    after the previous one (list indices are skipped)."""
    at = 0
    found = False
    for part in path.split("."):
        if not part or part.isdigit():
            continue
        index = text.find(json.dumps(part) + ":", at)
        if index < 0:
            index = text.find(json.dumps(part), at)
        if index < 0:
            break
        at, found = index, True
    return text.count("\n", 0, at) + 1 if found else None


def shown_errors(text: str, errors: list[FieldError]) -> list[ShownError]:
    """The errors of ``text`` in the order they were found."""
    return [ShownError(e.path or "(agent)", field_line(text, e.path), e.message) for e in errors]


def parse_error(error: json.JSONDecodeError) -> ShownError:
    """A JSON syntax error at its line."""
    return ShownError("(json)", error.lineno, f"not valid JSON: {error.msg} (column {error.colno})")


@dataclass(frozen=True, slots=True)
class MarkedLine:
    """A line of the submitted JSON and the errors that point at it."""

    number: int
    text: str
    errors: list[ShownError]


def marked_lines(text: str, errors: list[ShownError], limit: int = 400) -> list[MarkedLine]:
    """The JSON line by line with each error beside its line (empty for long documents or
    when no error has a line)."""
    lines = text.splitlines()
    if len(lines) > limit or not any(e.line for e in errors):
        return []
    return [
        MarkedLine(n, line, [e for e in errors if e.line == n])
        for n, line in enumerate(lines, start=1)
    ]
