"""What the benchmark reads from the server while and after a run: its CPU, memory and
event-loop stalls while the load runs (``Sampler``), and its own per-turn measure of the time
not spent waiting on an engine (``platform_added``)."""

from __future__ import annotations

import threading
import time

import httpx

from bench.server_metrics import scrape
from bench.stack import Stack


class Sampler:
    """Samples the server while the load runs: its peak RSS (memory is not returned after
    calls), its busiest ``WINDOW_S`` of CPU (the average over the run includes the ramp-up
    and the calls ending) and the longest event-loop stall it reports (AYBIZA's
    ``/metrics``: the longest of the last 2-4 s, read every ``INTERVAL_S``)."""

    INTERVAL_S = 0.5
    WINDOW_S = 5.0

    def __init__(self, stack: Stack) -> None:
        self._stack = stack
        # Several workers: a new connection per reading, so that every worker is read.
        self._limits = httpx.Limits(max_keepalive_connections=0 if stack.workers > 1 else None)
        self.peak = 0
        self.busiest_core_pct = 0.0
        self.stall_longest_s: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        history: list[tuple[float, float]] = []
        window = round(self.WINDOW_S / self.INTERVAL_S)
        client = httpx.Client(limits=self._limits) if self._stack.server == "aybiza" else None
        while not self._stop.wait(self.INTERVAL_S):
            if client is not None:
                reading = scrape(self._stack.url, client)
                if reading is not None and reading.stall_longest_s is not None:
                    self.stall_longest_s = max(self.stall_longest_s or 0.0, reading.stall_longest_s)
            usage = self._stack.server_usage()
            self.peak = max(self.peak, usage.rss_bytes)
            history.append((time.monotonic(), usage.cpu_s))
            if len(history) > window:
                (then, cpu_then), (now, cpu_now) = history[-window - 1], history[-1]
                pct = 100 * (cpu_now - cpu_then) / (now - then)
                self.busiest_core_pct = max(self.busiest_core_pct, pct)
        if client is not None:
            client.close()

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def platform_added(stack: Stack, call_sids: list[str]) -> list[float]:
    """AYBIZA's own per-turn platform-added time (ms) from its call records."""
    key_file = stack.log_dir / "data" / "demo.key"
    if not key_file.exists():
        return []
    headers = {"Authorization": f"Bearer {key_file.read_text().strip()}"}
    values: list[float] = []
    with httpx.Client(base_url=stack.url, headers=headers, timeout=10) as client:
        for sid in call_sids:
            response = client.get(f"/v1/calls/{sid}")
            if response.status_code != 200:
                continue
            for turn in response.json().get("turns", []):
                added = (turn.get("timings_ms") or {}).get("platform_added")
                if added is not None:
                    values.append(float(added))
    return values
