"""Tool arguments checked against the tool's JSON Schema before anything runs.

A violation becomes a message that names the field (``date: is required``,
``party_size: 0 is less than the minimum of 1``) and goes back to the model as an error
result; the tool's target never sees invalid arguments.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from jsonschema.exceptions import SchemaError, ValidationError  # type: ignore[import-untyped]

# Schemas are kept in every agent's context; this is far beyond any sensible tool.
MAX_SCHEMA_BYTES = 20_000


def _path(parts: Iterable[Any]) -> str:
    return ".".join(str(part) for part in parts)


def schema_problem(schema: Mapping[str, Any]) -> str | None:
    """Why ``schema`` cannot describe a tool's arguments, or None when it can.

    It must be a valid JSON Schema (draft 2020-12) for an object: ``"type": "object"``."""
    if len(json.dumps(schema)) > MAX_SCHEMA_BYTES:
        return f"is longer than {MAX_SCHEMA_BYTES} bytes of JSON"
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = _path(exc.absolute_path)
        return f"is not a valid JSON Schema{f' at {where}' if where else ''}: {exc.message}"
    if schema.get("type") != "object":
        return 'must describe an object: set "type": "object" and list "properties"'
    remote = _remote_ref(schema)
    if remote is not None:
        return f"may only use local references (#/...); {remote!r} would need a download"
    return None


def _remote_ref(node: Any) -> str | None:
    if isinstance(node, Mapping):
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            return ref
        children: Iterable[Any] = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return None
    for child in children:
        found = _remote_ref(child)
        if found is not None:
            return found
    return None


class ArgumentsValidator:
    """Validates one tool's arguments against its (already checked) schema."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self._validator = Draft202012Validator(
            dict(schema), format_checker=Draft202012Validator.FORMAT_CHECKER
        )

    def problem(self, arguments: Mapping[str, Any]) -> str | None:
        """The first violation, naming the field, or None when the arguments are valid."""
        try:
            errors = sorted(
                self._validator.iter_errors(dict(arguments)),
                key=lambda error: (len(error.absolute_path), _path(error.absolute_path)),
            )
        except Exception as exc:  # a schema that cannot be applied (an unresolvable $ref)
            return f"(arguments): the tool's schema cannot be applied: {type(exc).__name__}"
        if not errors:
            return None
        return describe(errors[0])


def describe(error: ValidationError) -> str:
    """``field: what is wrong`` for a jsonschema error."""
    where = _path(error.absolute_path)
    if error.validator == "required":
        missing = _missing_property(error)
        if missing is not None:
            return f"{where + '.' if where else ''}{missing}: is required"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = (
            set(error.schema.get("properties", {})) if isinstance(error.schema, dict) else set()
        )
        extra = sorted(key for key in error.instance if key not in allowed)
        if extra:
            return f"{where + '.' if where else ''}{extra[0]}: is not an argument of this tool"
    return f"{where or '(arguments)'}: {error.message}"


def _missing_property(error: ValidationError) -> str | None:
    required = error.validator_value
    if isinstance(required, list) and isinstance(error.instance, dict):
        for name in required:
            if name not in error.instance:
                return str(name)
    return None
