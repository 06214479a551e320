"""Side-by-side capacity benchmark: AYBIZA (its Twilio path, and its SIP path: RTP in and out,
no JSON, no base64) and Pipecat on one pinned core, same fakes, same load.

AYBIZA runs the seed's agent on its default engines (Deepgram Nova-3 + Aura-2, Claude on Bedrock
through the faithful ``ConverseStream`` fake) as ``aybiza``, with its callers staggered over the
20 ms frame; ``aybiza-step`` is the same with every caller in step on one clock, and
``aybiza-openai`` the OpenAI-compatible engine.

For each server and each N (concurrent calls), one run: the fakes (Deepgram STT/TTS and an
OpenAI-compatible model with fixed latencies) on CPU 1, the server under test on CPU 0, the load
generator on CPU 1. Servers are interleaved per N. A run passes the real-time criterion when no
call dropped, no call had an audible gap (agent audio more than 40 ms late inside an answer) and
the p99 latency added by load stays under 20 ms: voice-to-voice p99 at N minus the same server's
p99 at N = 1 (the engines' injected latency and the server's own turn-taking are in both). The
headline is the largest passing N per core, for each server, and their ratio.

    python -m bench.run --short      # make bench: a few points, prints the headline
    python -m bench.run --short --setups aybiza,aybiza-sip   # AYBIZA's two paths only
    python -m bench.run --write      # full sweep: docs/benchmarks.md + docs/benchmarks.png
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.arrivals import poisson
from bench.capacity import passes
from bench.loadgen import percentile, run_load, summarize
from bench.sampler import Sampler, platform_added
from bench.server_metrics import Scrape, gc_between_workers, scrape, scrape_workers
from bench.setups import (
    FULL_STEPS,
    POISSON_MEAN_CALL_S,
    POISSON_WINDOW_S,
    SETUPS,
    SHORT_STEPS,
    cores_for,
)
from bench.stack import BENCH_NUMBER, Stack

REPO = Path(__file__).resolve().parents[1]
INJECTED = {"stt_latency_ms": 150, "llm_latency_ms": 300, "tts_latency_ms": 100}
# AYBIZA reports the longest loop stall of its current and previous 2 s windows.
STALL_WINDOWS_S = 4.5


@dataclass
class Run:
    server: str
    calls: int
    seconds: float
    cpu_per_call_pct: float
    rss_per_call_mib: float
    rss_peak_mib: float
    greeting_p50_ms: float | None
    greeting_p95_ms: float | None
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
    loop_stall_longest_ms: float | None = None
    gc_pauses: int = 0
    gc_pause_total_ms: float = 0.0
    gc_pause_longest_under_ms: float | None = None
    passed: bool = False
    workers: int = 1
    shared_cores: bool = False
    arrivals: str = "ramp"
    calls_placed: int = 0
    peak_concurrent: int = 0
    mean_concurrent: float = 0.0


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def measure(
    setup: str,
    calls: int,
    baseline_p99_s: float | None,
    *,
    workers: int | None = None,
    poisson_window_s: float = POISSON_WINDOW_S,
) -> Run:
    """One run of ``calls`` concurrent calls against a fresh stack (``setup``: a key of
    ``SETUPS``). The server runs the setup's worker processes (``workers`` overrides it), one
    core each (``cores_for``). A Poisson setup places calls at ``calls / POISSON_MEAN_CALL_S``
    a second for ``poisson_window_s`` seconds: ``calls`` up on average (at 1, one call)."""
    chosen = SETUPS[setup]
    server, carrier = chosen.server, chosen.carrier
    workers = workers or chosen.workers
    cores = cores_for(workers)
    server_cpu, fakes_cpu, generator_cpus = cores.server, cores.fakes, cores.generator
    arrivals = None
    if chosen.arrivals == "poisson" and calls > 1:
        arrivals = poisson(
            rate=calls / POISSON_MEAN_CALL_S,
            window_s=poisson_window_s,
            mean_call_s=POISSON_MEAN_CALL_S,
            rng=random.Random(calls),
        )
    with Stack(
        server=server,
        cpu=server_cpu,
        fakes_cpu=fakes_cpu,
        workers=workers,
        stt_latency_ms=INJECTED["stt_latency_ms"],
        llm_latency_ms=INJECTED["llm_latency_ms"],
        tts_latency_ms=INJECTED["tts_latency_ms"],
        llm=chosen.llm,
    ) as stack:
        # A warm-up call: the first call of a process loads models and opens pools.
        sip_uri = stack.sip_uri if carrier == "sip" else None
        run_load(
            url=stack.url,
            calls=1,
            to=BENCH_NUMBER,
            barge_every=0,
            ramp_s=0,
            cpus=generator_cpus,
            carrier=carrier,
            sip_uri=sip_uri,
        )
        # Past the loop watch's windows: the warm-up call's stalls are not the load's.
        time.sleep(STALL_WINDOWS_S)
        idle = stack.server_usage()
        metrics_before = _metrics(stack)
        fakes_before = stack.fakes_cpu_s()
        children_before = os.times()
        started = time.monotonic()
        with Sampler(stack) as peak:
            results = run_load(
                url=stack.url,
                calls=calls,
                processes=1 if calls <= 300 else 2,
                to=BENCH_NUMBER,
                ramp_s=min(10.0, 0.05 * calls + 1),
                cpus=generator_cpus,
                carrier=carrier,
                sip_uri=sip_uri,
                phases=chosen.phases,
                arrivals=arrivals,
            )
        seconds = time.monotonic() - started
        metrics_after = _metrics(stack)
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
        platform = platform_added(stack, [r["call_sid"] for r in results if r["call_sid"]])
    summary = summarize(results)
    v2v_p99 = summary["v2v_p99_s"]
    baseline = baseline_p99_s if baseline_p99_s is not None else v2v_p99
    added = None if v2v_p99 is None or baseline is None else v2v_p99 - baseline
    run = Run(
        server=setup,
        calls=calls,
        seconds=round(seconds, 1),
        cpu_per_call_pct=round(100 * used.cpu_s / seconds / calls, 2),
        rss_per_call_mib=round(max(peak.peak - idle.rss_bytes, 0) / calls / 2**20, 2),
        rss_peak_mib=round(peak.peak / 2**20, 1),
        greeting_p50_ms=_ms(summary["greeting_p50_s"]),
        greeting_p95_ms=_ms(summary["greeting_p95_s"]),
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
        loop_stall_longest_ms=_ms(peak.stall_longest_s),
        workers=workers,
        shared_cores=cores.shared,
        arrivals="ramp" if arrivals is None else "poisson",
        calls_placed=summary["calls"],
        peak_concurrent=summary["peak_concurrent"],
        mean_concurrent=summary["mean_concurrent"],
    )
    _add_gc(run, metrics_before, metrics_after)
    run.passed = passes(
        failed_calls=run.dropped, calls_with_gaps=run.calls_with_gaps, added_p99_ms=run.added_p99_ms
    )
    return run


def _metrics(stack: Stack) -> dict[int, Scrape] | None:
    """AYBIZA's ``/metrics``: of its one process (under key 0), or of each worker."""
    if stack.server != "aybiza":
        return None
    if stack.workers == 1:
        reading = scrape(stack.url)
        return None if reading is None else {0: reading}
    return scrape_workers(stack.url, stack.server_pid, stack.server_port)


def _add_gc(run: Run, before: dict[int, Scrape] | None, after: dict[int, Scrape] | None) -> None:
    if before is None or after is None:
        return
    pauses = gc_between_workers(before, after)
    run.gc_pauses = pauses.count
    run.gc_pause_total_ms = pauses.total_ms
    run.gc_pause_longest_under_ms = pauses.longest_under_ms


def describe(run: Run) -> str:
    """One line a reader can take in: load, CPU, memory, latencies, stalls."""
    gc = f"{run.gc_pauses} GC pauses ({run.gc_pause_total_ms} ms in all"
    if run.gc_pause_longest_under_ms is not None:
        gc += f", longest under {run.gc_pause_longest_under_ms} ms"
    load = f"{run.calls} calls"
    if run.arrivals == "poisson":
        load += (
            f" (Poisson: {run.calls_placed} placed, {run.mean_concurrent} up on average, "
            f"{run.peak_concurrent} at most)"
        )
    if run.workers > 1:
        shared = ", sharing them with the load" if run.shared_cores else ""
        load += f" on {run.workers} workers{shared}"
    return (
        f"{run.server} at {load}: {run.cpu_per_call_pct} % of a core and "
        f"{run.rss_per_call_mib} MiB per call (busiest 5 s {run.server_core_busiest_pct} %); "
        f"greeting p50/p95 {run.greeting_p50_ms}/{run.greeting_p95_ms} ms; reply p50/p95/p99 "
        f"{run.v2v_p50_ms}/{run.v2v_p95_ms}/{run.v2v_p99_ms} ms (added p99 "
        f"{run.added_p99_ms} ms); clear p50 {run.clear_p50_ms} ms; longest loop stall "
        f"{run.loop_stall_longest_ms} ms; {gc}); gaps {run.audible_gaps}, dropped "
        f"{run.dropped}; {'passes' if run.passed else 'fails'}"
    )


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
            print(describe(run), flush=True)
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
    parts = [f"AYBIZA {aybiza} calls/core (Deepgram + Claude on Bedrock, Twilio Media Streams)"]
    variants = {
        "aybiza-step": "callers in step",
        "aybiza-openai": "OpenAI-compatible engine",
        "aybiza-sip": "over SIP",
    }
    for name, label in variants.items():
        if name in best:
            parts.append(f"AYBIZA {label} {best[name]} calls/core")
    others = {k: v for k, v in best.items() if not k.startswith("aybiza")}
    for name, value in others.items():
        ratio = f"{aybiza / value:.0f}x" if value else "n/a (fails at its first step)"
        parts.append(f"{name} {value} calls/core (ratio {ratio})")
    return "; ".join(parts)


def beyond(server: str, steps: tuple[int, ...], *, workers: int = 1) -> list[Run]:
    """Every step measured, past the criterion too (how a server degrades)."""
    baseline = measure(server, 1, None, workers=workers)
    print(describe(baseline), flush=True)
    runs = [baseline]
    for calls in steps:
        runs.append(measure(server, calls, (baseline.v2v_p99_ms or 0) / 1000, workers=workers))
        print(json.dumps(asdict(runs[-1])), file=sys.stderr, flush=True)
        print(describe(runs[-1]), flush=True)
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
        "--setups",
        metavar="NAME,NAME",
        help=f"measure only these of {', '.join(SETUPS)} (e.g. aybiza,aybiza-sip)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="with --beyond: aybiza serve --workers N over all cores (calls per machine)",
    )
    parser.add_argument(
        "--capacity",
        action="store_true",
        help="search each setup's largest passing N (ladder, then bisection; bench.capacity)",
    )
    parser.add_argument(
        "--ladder",
        metavar="N,N,...",
        help="with --capacity: the calls per core to climb (default 40,80,160,...,480)",
    )
    parser.add_argument(
        "--resolution", type=int, default=10, help="with --capacity: calls per core"
    )
    parser.add_argument(
        "--ceiling", type=int, default=4000, help="with --capacity: most calls per core"
    )
    parser.add_argument(
        "--poisson-window-s",
        type=float,
        default=POISSON_WINDOW_S,
        help="aybiza-poisson: seconds over which calls arrive",
    )
    args = parser.parse_args(argv)
    if args.capacity:
        from bench.capacity_run import capacity_command

        capacity_command(parser, args)
        return
    if args.beyond:
        from bench.report import beyond_table

        steps = tuple(int(n) for n in args.beyond.split(","))
        setup = (args.setups or "aybiza").split(",")[0]
        if setup not in SETUPS or not setup.startswith("aybiza"):
            parser.error(f"--beyond measures one AYBIZA setup, not {setup!r}")
        runs = beyond(setup, steps, workers=args.workers)
        command = f"python -m bench.run --beyond {args.beyond}"
        if args.setups:
            command += f" --setups {setup}"
        if args.workers != 1:
            command += f" --workers {args.workers}"
        print(beyond_table(runs, command=command))
        return
    plan = SHORT_STEPS if args.short else FULL_STEPS
    if args.setups:
        wanted = args.setups.split(",")
        unknown = sorted(set(wanted) - set(SETUPS))
        if unknown:
            parser.error(f"--setups: unknown {', '.join(unknown)}; known: {', '.join(SETUPS)}")
        plan = {name: ns for name, ns in plan.items() if name in wanted}
    runs = sweep(plan)
    best = headline(runs)
    print(headline_text(best))
    if args.write:
        from bench.report import write_report

        write_report(runs, best, headline_text(best), command="make bench-full")
    for server, calls in best.items():
        at_best = [r for r in runs if r.server == server and r.calls == calls]
        if at_best:
            print(describe(at_best[0]))


if __name__ == "__main__":
    main()
