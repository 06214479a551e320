"""Errors for agent configurations: one entry per bad field, named by its dotted path.

Pydantic reports locations as tuples that include internals (the tag of a discriminated union)
and cannot point below the model a cross-field rule runs on. This module turns its errors into
``FieldError`` values whose ``path`` is what the author wrote in the JSON, e.g.
``flow.nodes.book.next`` or ``language.supported.1``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

# Error type of ``located_error``: a cross-field rule that names the fields it rejects.
LOCATED_ERROR_TYPE = "located"

# Pydantic prefixes messages of plain ``ValueError``s raised in validators with this.
_VALUE_ERROR_PREFIX = "Value error, "


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem in an agent configuration.

    ``path`` is dot-joined, list indices as numbers (``language.supported.1``); an empty path
    means the document as a whole. ``received`` is the offending value, or ``None`` when the
    field was missing.
    """

    path: str
    message: str
    received: object | None = None

    def __str__(self) -> str:
        where = self.path or "(agent)"
        if self.received is None:
            return f"{where}: {self.message}"
        shown = repr(self.received)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        return f"{where}: {self.message} (received {shown})"


class AgentConfigError(Exception):
    """An agent configuration was rejected; ``errors`` lists every bad field."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors: list[FieldError] = list(errors)
        super().__init__(str(self))

    def __str__(self) -> str:
        count = len(self.errors)
        lines = [f"invalid agent configuration ({count} error{'s' if count != 1 else ''}):"]
        lines.extend(f"  {error}" for error in self.errors)
        return "\n".join(lines)


def located_error(problems: Sequence[FieldError]) -> PydanticCustomError:
    """A validation error for a cross-field rule, naming fields below the model that raised it.

    Raise it from a model validator; ``problems`` carry paths relative to that model.
    ``field_errors`` expands it into one ``FieldError`` per problem with the full path.
    """
    summary = "; ".join(str(problem) for problem in problems)
    records = [(p.path, p.message, p.received) for p in problems]
    return PydanticCustomError(
        LOCATED_ERROR_TYPE, "{summary}", {"summary": summary, "problems": records}
    )


def field_errors(
    exc: ValidationError, union_tags: Mapping[str, Collection[str]] | None = None
) -> list[FieldError]:
    """Convert a pydantic ``ValidationError`` into ``FieldError``s with the author's paths.

    ``union_tags`` maps a container field name (``"nodes"``) to the tags of the discriminated
    union its values hold; pydantic puts the tag after the key (``nodes.main.say.next``) and it
    is dropped here because the author never wrote it.
    """
    tags = union_tags or {}
    result: list[FieldError] = []
    for error in exc.errors():
        loc = _author_loc(error["loc"], tags)
        if error["type"] == LOCATED_ERROR_TYPE:
            for sub_path, message, received in error.get("ctx", {}).get("problems", []):
                result.append(FieldError(_join(loc, sub_path), message, received))
            continue
        if error["type"] == "extra_forbidden":
            message = "unknown field; check its spelling against the agent schema"
        else:
            message = error["msg"].removeprefix(_VALUE_ERROR_PREFIX)
        received = None if error["type"] == "missing" else error.get("input")
        result.append(FieldError(_join(loc, ""), message, received))
    return result


def _author_loc(loc: Iterable[int | str], union_tags: Mapping[str, Collection[str]]) -> list[str]:
    parts = list(loc)
    kept: list[str] = []
    for index, part in enumerate(parts):
        if index >= 2 and isinstance(part, str):
            container = parts[index - 2]
            if isinstance(container, str) and part in union_tags.get(container, ()):
                continue
        kept.append(str(part))
    return kept


def _join(loc: Sequence[str], sub_path: str) -> str:
    return ".".join([*loc, sub_path] if sub_path else loc)
