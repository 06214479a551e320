"""The deployment tests' outside tools: a test that needs one skips locally, naming the command
that installs it, and fails on CI (``CI=true``), where ``.ci/run`` and ``make test`` install
them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CHECKOV = ROOT / ".venv" / "tools" / "checkov" / "bin" / "checkov"


def require(program: str | Path, install: str) -> str:
    """The path of ``program`` (a name on PATH or a file); skips or fails without it."""
    found = str(program) if Path(program).is_file() else shutil.which(str(program))
    if found is not None:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail(f"{program} is missing on CI; install it with: {install}")
    pytest.skip(f"{program} is missing; install it with: {install}")


def load_yaml(path: Path) -> Any:
    """A YAML file's data (safe loading: plain maps, lists and scalars)."""
    return YAML(typ="safe", pure=True).load(path)
