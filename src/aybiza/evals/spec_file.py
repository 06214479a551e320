"""Reading a suite file (YAML, or JSON for ``.json``) and the agent file a suite may name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from aybiza.agents.eval_spec import EvalSpec, EvalSpecError, validate_eval_spec


class SpecFileError(Exception):
    """A suite or agent file cannot be used; the message names the file and what is wrong."""


def read_document(path: Path) -> Any:
    """The parsed content of a YAML or JSON file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecFileError(f"{path}: cannot read it ({exc})") from exc
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise SpecFileError(f"{path}: not valid JSON: {exc}") from exc
    except yaml.YAMLError as exc:
        raise SpecFileError(f"{path}: not valid YAML: {exc}") from exc


def load_spec(path: Path) -> EvalSpec:
    """The suite in ``path``, validated."""
    return spec_from_document(read_document(path), str(path))


def spec_from_document(document: Any, source: str) -> EvalSpec:
    """A parsed suite, validated; ``source`` names it in errors."""
    try:
        return validate_eval_spec(document)
    except EvalSpecError as exc:
        raise SpecFileError(f"{source}: {exc}") from exc


def load_agent(spec_path: Path, reference: str) -> dict[str, Any]:
    """The agent JSON a suite names (``agent: support.json``), relative to the suite file."""
    path = (spec_path.parent / reference).resolve()
    if not path.is_file():
        raise SpecFileError(
            f"{spec_path}: agent: no file {path} (name 'demo' or an agent JSON/YAML file)"
        )
    document = read_document(path)
    if not isinstance(document, dict):
        raise SpecFileError(f"{path}: expected an agent configuration object")
    return document
