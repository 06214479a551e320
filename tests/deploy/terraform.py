"""The Terraform under ``deploy/terraform`` parsed with python-hcl2 (no Terraform binary), as
plain dicts: quotes stripped, no comment or block markers. Expressions stay as their
``${...}`` text, so wiring is checked by what a value refers to."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
from hcl2.utils import SerializationOptions
from tests.deploy.tools import DEPLOY

TERRAFORM = DEPLOY / "terraform"
REGION_MODULE = TERRAFORM / "modules" / "region"
_OPTIONS = SerializationOptions(
    with_comments=False, explicit_blocks=False, strip_string_quotes=True
)


@dataclass
class Configuration:
    """One Terraform module: its blocks by kind, resources and data sources by type and name."""

    resources: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    data: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    modules: dict[str, dict[str, Any]] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    providers: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def resource(self, kind: str, name: str) -> dict[str, Any]:
        return self.resources[kind][name]


@cache
def parse_file(path: Path) -> dict[str, Any]:
    with path.open() as file:
        parsed: dict[str, Any] = hcl2.load(file, serialization_options=_OPTIONS)
    return parsed


def load_module(directory: Path) -> Configuration:
    """Every ``*.tf`` file of ``directory``, merged (each file parsed once per process)."""
    config = Configuration()
    for path in sorted(directory.glob("*.tf")):
        parsed = parse_file(path)
        for kind, target in (("resource", config.resources), ("data", config.data)):
            for block in parsed.get(kind, []):
                for type_name, named in block.items():
                    for name, body in named.items():
                        assert name not in target.setdefault(type_name, {}), (type_name, name)
                        target[type_name][name] = body
        for block in parsed.get("module", []):
            config.modules.update(block)
        for block in parsed.get("variable", []):
            config.variables.update(block)
        for block in parsed.get("output", []):
            config.outputs.update(block)
        for block in parsed.get("locals", []):
            config.locals.update(block)
        for block in parsed.get("provider", []):
            config.providers.extend(block.items())
    return config


def single(blocks: Any) -> dict[str, Any]:
    """A nested block written once (python-hcl2 gives blocks as lists)."""
    assert isinstance(blocks, list) and len(blocks) == 1, blocks
    block: dict[str, Any] = blocks[0]
    return block
