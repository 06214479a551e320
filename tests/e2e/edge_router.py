"""The voice-router Worker (``edge/voice-router``) in workerd, as ``wrangler dev`` runs it on
loopback, in front of AYBIZA servers started as regions. Needs ``edge/node_modules``
(``cd edge && npm ci``): without it a test skips locally and fails under ``CI=true``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from .server_process import free_port

EDGE_DIR = Path(__file__).resolve().parents[2] / "edge"
WRANGLER = EDGE_DIR / "node_modules" / ".bin" / "wrangler"
INSTALL = "cd edge && npm ci"


def require_edge() -> None:
    """Skip (locally) or fail (CI) when the Workers toolchain is not installed."""
    if WRANGLER.exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"edge/node_modules is missing; .ci/run must run: {INSTALL}")
    pytest.skip(INSTALL)


@dataclass(frozen=True)
class Region:
    name: str
    origin: str
    countries: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunningRouter:
    base_url: str
    secret: str
    log_path: Path

    def health(self, client: httpx.Client | None = None) -> dict[str, Any]:
        """``/_edge/health``: every region's state and the number table's size. Pass a
        ``client`` when polling: a new one per request costs a TLS context's worth of CPU."""
        response = (client or httpx).get(
            f"{self.base_url}/_edge/health",
            headers={"Authorization": f"Bearer {self.secret}"},
            timeout=5,
        )
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body


@contextmanager
def running_router(
    regions: Sequence[Region],
    *,
    port: int,
    secret: str,
    state_dir: Path,
    health_interval_ms: int,
    health_timeout_ms: int,
    numbers_sync_ms: int,
    numbers: int,
) -> Iterator[RunningRouter]:
    """``wrangler dev`` of the voice-router on ``127.0.0.1:port`` with ``regions`` as its table;
    ready once every region was checked and ``numbers`` numbers were pulled."""
    table = [
        {"name": r.name, "origin": r.origin, "countries": list(r.countries), "weight": 1}
        for r in regions
    ]
    variables = {
        "REGIONS": json.dumps(table),
        "HEALTH_INTERVAL_MS": str(health_interval_ms),
        "HEALTH_TIMEOUT_MS": str(health_timeout_ms),
        "NUMBERS_SYNC_MS": str(numbers_sync_ms),
        "EDGE_SECRET": secret,
    }
    command = [
        str(WRANGLER),
        "dev",
        "--config",
        str(EDGE_DIR / "voice-router" / "wrangler.toml"),
        "--local",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--inspector-port",
        str(free_port()),
        "--persist-to",
        str(state_dir),
        "--show-interactive-dev-session=false",
        "--log-level",
        "warn",
    ]
    for name, value in variables.items():
        command += ["--var", f"{name}:{value}"]
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = state_dir / "wrangler.log"
    # wrangler reaches out to Cloudflare on its own unless told not to; the test needs no network.
    env = {**os.environ, "WRANGLER_SEND_METRICS": "false", "CLOUDFLARE_CF_FETCH_ENABLED": "false"}
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command,
            cwd=EDGE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    router = RunningRouter(f"http://127.0.0.1:{port}", secret, log_path)
    try:
        _wait_ready(router, process, {r.name for r in regions}, numbers)
        yield router
    finally:
        # wrangler and the workerd it started share the session made for them.
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _wait_ready(
    router: RunningRouter, process: subprocess.Popen[bytes], names: set[str], numbers: int
) -> None:
    deadline = time.monotonic() + 60
    with httpx.Client(trust_env=False) as probe:
        while True:
            try:
                health = router.health(probe)
                checked = {
                    name
                    for name, state in health["regions"].items()
                    if state["checkedAt"] is not None
                }
                if checked == names and health["numbers"] >= numbers:
                    return
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log = router.log_path.read_text()
                raise RuntimeError(f"the voice-router did not start:\n{log}")
            time.sleep(0.1)
