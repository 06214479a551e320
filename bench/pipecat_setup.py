"""Pipecat's side of the benchmark: its Twilio bot (``bench/pipecat/bot.py``) and the venv it runs
in (``bench/.venv-pipecat``, made by ``bench/pipecat/setup.sh``)."""

from __future__ import annotations

import subprocess

from bench.processes import StackError
from bench.stack_config import REPO

PIPECAT_SETUP = REPO / "bench" / "pipecat" / "setup.sh"
PIPECAT_PYTHON = REPO / "bench" / ".venv-pipecat" / "bin" / "python"
PIPECAT_BOT = REPO / "bench" / "pipecat" / "bot.py"


def ensure_pipecat_venv() -> None:
    """Create or update ``bench/.venv-pipecat`` (``setup.sh`` does nothing when up to date)."""
    result = subprocess.run(
        ["bash", str(PIPECAT_SETUP)], cwd=REPO, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise StackError(f"bench/pipecat/setup.sh failed:\n{result.stdout}\n{result.stderr}")
