"""Side-by-side capacity benchmark: AYBIZA and Pipecat on one pinned core, same fakes, same load.

For each server and each N (concurrent calls), one run: the fakes (Deepgram STT/TTS and an
OpenAI-compatible model with fixed latencies) on CPU 1, the server under test on CPU 0, the load
generator on CPU 1. Servers are interleaved per N. A run passes the real-time criterion when no
call dropped, no call had an audible gap (agent audio more than 40 ms late inside an answer) and
the p99 latency added by load stays under 20 ms: voice-to-voice p99 at N minus the same server's
p99 at N = 1 (the engines' injected latency and the server's own turn-taking are in both). The
headline is the largest passing N per core, for each server, and their ratio.

    python -m bench.run --short      # make bench: a few points, prints the headline
    python -m bench.run --write      # full sweep: docs/benchmarks.md + docs/benchmarks.png
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from bench.loadgen import percentile, run_load, summarize
from bench.stack import BENCH_NUMBER, Stack

REPO = Path(__file__).resolve().parents[1]
INJECTED = {"stt_latency_ms": 150, "llm_latency_ms": 300, "tts_latency_ms": 100}
ADDED_P99_LIMIT_S = 0.020
# The server under test has core 0 to itself; the fakes and the load generator share core 1.
SERVER_CPU = 0
GENERATOR_CPUS = {1}
FULL_STEPS: dict[str, tuple[int, ...]] = {
    "aybiza": (1, 10, 50, 100, 150, 200, 250, 300, 400, 500),
    "pipecat": (1, 2, 3, 5, 10),
    "pipecat-noturn": (1, 2, 3, 5, 10),
}
SHORT_STEPS: dict[str, tuple[int, ...]] = {"aybiza": (1, 150), "pipecat": (1, 2, 3)}


@dataclass
class Run:
    server: str
    calls: int
    seconds: float
    cpu_per_call_pct: float
    rss_per_call_mib: float
    rss_peak_mib: float
    greeting_p50_ms: float | None
    v2v_p50_ms: float | None
    v2v_p95_ms: float | None
    v2v_p99_ms: float | None
    added_p99_ms: float | None
    platform_added_p99_ms: float | None
    clear_p50_ms: float | None
    audible_gaps: int
    calls_with_gaps: int
    dropped: int
    generator_core_pct: float = 0.0
    server_core_busiest_pct: float = 0.0
    passed: bool = False


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


class _Sampler:
    """Samples the server while the load runs: its peak RSS (memory is not returned after
    calls) and its busiest ``WINDOW_S`` of CPU (the average over the run includes the ramp-up
    and the calls ending)."""

    INTERVAL_S = 0.5
    WINDOW_S = 5.0

    def __init__(self, stack: Stack) -> None:
        self._stack = stack
        self.peak = 0
        self.busiest_core_pct = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        history: list[tuple[float, float]] = []
        window = round(self.WINDOW_S / self.INTERVAL_S)
        while not self._stop.wait(self.INTERVAL_S):
            usage = self._stack.server_usage()
            self.peak = max(self.peak, usage.rss_bytes)
            history.append((time.monotonic(), usage.cpu_s))
            if len(history) > window:
                (then, cpu_then), (now, cpu_now) = history[-window - 1], history[-1]
                pct = 100 * (cpu_now - cpu_then) / (now - then)
                self.busiest_core_pct = max(self.busiest_core_pct, pct)

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def _platform_added(stack: Stack, call_sids: list[str]) -> list[float]:
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


def measure(server: str, calls: int, baseline_p99_s: float | None, *, workers: int = 1) -> Run:
    """One run of ``calls`` concurrent calls against a fresh stack. With ``workers`` > 1 the
    server runs that many processes over the machine's cores (``aybiza serve --workers``),
    sharing them with the fakes and the load generator: calls per machine, not per core."""
    if workers == 1:
        server_cpu: int | str = SERVER_CPU
        fakes_cpu = ",".join(map(str, sorted(GENERATOR_CPUS)))
        generator_cpus: set[int] | None = GENERATOR_CPUS
    else:
        server_cpu = fakes_cpu = f"0-{(os.cpu_count() or 1) - 1}"
        generator_cpus = None
    with Stack(
        server=server,  # type: ignore[arg-type]
        cpu=server_cpu,
        fakes_cpu=fakes_cpu,
        workers=workers,
        stt_latency_ms=INJECTED["stt_latency_ms"],
        llm_latency_ms=INJECTED["llm_latency_ms"],
        tts_latency_ms=INJECTED["tts_latency_ms"],
    ) as stack:
        # A warm-up call: the first call of a process loads models and opens pools.
        run_load(
            url=stack.url, calls=1, to=BENCH_NUMBER, barge_every=0, ramp_s=0, cpus=generator_cpus
        )
        idle = stack.server_usage()
        fakes_before = stack.fakes_cpu_s()
        children_before = os.times()
        started = time.monotonic()
        with _Sampler(stack) as peak:
            results = run_load(
                url=stack.url,
                calls=calls,
                processes=1 if calls <= 300 else 2,
                to=BENCH_NUMBER,
                ramp_s=min(10.0, 0.05 * calls + 1),
                cpus=generator_cpus,
            )
        seconds = time.monotonic() - started
        used = stack.server_usage() - idle
        children = os.times()
        generator_s = (
            children.children_user
            - children_before.children_user
            + children.children_system
            - children_before.children_system
            + stack.fakes_cpu_s()
            - fakes_before
        )
        platform = _platform_added(stack, [r["call_sid"] for r in results if r["call_sid"]])
    summary = summarize(results)
    v2v_p99 = summary["v2v_p99_s"]
    baseline = baseline_p99_s if baseline_p99_s is not None else v2v_p99
    added = None if v2v_p99 is None or baseline is None else v2v_p99 - baseline
    run = Run(
        server=server,
        calls=calls,
        seconds=round(seconds, 1),
        cpu_per_call_pct=round(100 * used.cpu_s / seconds / calls, 2),
        rss_per_call_mib=round(max(peak.peak - idle.rss_bytes, 0) / calls / 2**20, 2),
        rss_peak_mib=round(peak.peak / 2**20, 1),
        greeting_p50_ms=_ms(summary["greeting_p50_s"]),
        v2v_p50_ms=_ms(summary["v2v_p50_s"]),
        v2v_p95_ms=_ms(summary["v2v_p95_s"]),
        v2v_p99_ms=_ms(v2v_p99),
        added_p99_ms=_ms(added),
        platform_added_p99_ms=(round(percentile(platform, 99) or 0.0, 2) if platform else None),
        clear_p50_ms=_ms(summary["clear_p50_s"]),
        audible_gaps=summary["audible_gaps"],
        calls_with_gaps=summary["calls_with_gaps"],
        dropped=summary["dropped"],
        generator_core_pct=round(100 * generator_s / seconds, 1),
        server_core_busiest_pct=round(peak.busiest_core_pct, 1),
    )
    run.passed = (
        run.dropped == 0
        and run.calls_with_gaps == 0
        and added is not None
        and added < ADDED_P99_LIMIT_S
    )
    return run


def sweep(steps: dict[str, tuple[int, ...]]) -> list[Run]:
    """Interleaved: for each N, every server still passing is measured once."""
    runs: list[Run] = []
    baselines: dict[str, float | None] = {}
    failed: set[str] = set()
    for calls in sorted({n for ns in steps.values() for n in ns}):
        for server, ns in steps.items():
            if calls not in ns or server in failed:
                continue
            run = measure(server, calls, baselines.get(server))
            if calls == 1:
                baselines[server] = (run.v2v_p99_ms or 0) / 1000
            runs.append(run)
            print(json.dumps(asdict(run)), file=sys.stderr, flush=True)
            if not run.passed:
                failed.add(server)
    return runs


def headline(runs: list[Run]) -> dict[str, int]:
    best: dict[str, int] = {}
    for run in runs:
        if run.passed:
            best[run.server] = max(best.get(run.server, 0), run.calls)
        else:
            best.setdefault(run.server, 0)
    return best


def headline_text(best: dict[str, int]) -> str:
    aybiza = best.get("aybiza", 0)
    others = {k: v for k, v in best.items() if k != "aybiza"}
    parts = [f"AYBIZA {aybiza} calls/core"]
    for name, value in others.items():
        ratio = f"{aybiza / value:.0f}x" if value else "n/a (fails at its first step)"
        parts.append(f"{name} {value} calls/core (ratio {ratio})")
    return "; ".join(parts)


def beyond(server: str, steps: tuple[int, ...], *, workers: int = 1) -> list[Run]:
    """Every step measured, past the criterion too (how a server degrades)."""
    baseline = measure(server, 1, None, workers=workers)
    runs = [baseline]
    for calls in steps:
        runs.append(measure(server, calls, (baseline.v2v_p99_ms or 0) / 1000, workers=workers))
        print(json.dumps(asdict(runs[-1])), file=sys.stderr, flush=True)
    return runs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="a few points (make bench)")
    parser.add_argument("--write", action="store_true", help="write docs/benchmarks.md + png")
    parser.add_argument(
        "--beyond",
        metavar="N,N,...",
        help="measure AYBIZA at these N without stopping at the first failure",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="with --beyond: aybiza serve --workers N over all cores (calls per machine)",
    )
    args = parser.parse_args(argv)
    if args.beyond:
        from bench.report import beyond_table

        steps = tuple(int(n) for n in args.beyond.split(","))
        runs = beyond("aybiza", steps, workers=args.workers)
        command = f"python -m bench.run --beyond {args.beyond}"
        if args.workers != 1:
            command += f" --workers {args.workers}"
        print(beyond_table(runs, command=command))
        return
    runs = sweep(SHORT_STEPS if args.short else FULL_STEPS)
    best = headline(runs)
    print(headline_text(best))
    if args.write:
        from bench.report import write_report

        write_report(runs, best, headline_text(best), command="make bench-full")
    for server, calls in best.items():
        at_best = [r for r in runs if r.server == server and r.calls == calls]
        if at_best:
            run = at_best[0]
            print(
                f"{server} at {calls} calls: {run.cpu_per_call_pct} % of a core and "
                f"{run.rss_per_call_mib} MiB per call, p99 added {run.added_p99_ms} ms"
            )


if __name__ == "__main__":
    main()
