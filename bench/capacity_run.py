"""``python -m bench.run --capacity``: the largest N each setup holds under the real-time
criterion, found by the search of ``bench.capacity`` (ladder, then bisection), the setups
interleaved step by step so that they meet the same noise.

For each setup: one unloaded call first (its reply p99 is the baseline), then the search; at the
end, the capacity in calls and per core with, at that N, CPU and memory per call, greeting p95,
the longest event-loop stall and the GC pauses; and ``aybiza-2w`` over ``aybiza`` when both ran
(``aybiza serve --workers 2`` on two cores against one worker on one).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from bench.capacity import (
    GREETING_P95_LIMIT_MS,
    LADDER,
    Plan,
    capacity,
    next_calls,
    per_core,
    ratio,
)
from bench.run import Run, describe, measure
from bench.setups import POISSON_WINDOW_S, SETUPS


@dataclass
class Search:
    """One setup's search: its plan, its unloaded run and the runs of the search."""

    setup: str
    plan: Plan
    baseline: Run | None = None
    runs: list[Run] = field(default_factory=list)

    @property
    def outcomes(self) -> dict[int, bool]:
        return {run.calls: run.passed for run in self.runs}

    @property
    def calls(self) -> int:
        return capacity(self.outcomes)

    @property
    def at_capacity(self) -> Run | None:
        return next((run for run in self.runs if run.calls == self.calls), None)


def run_searches(
    setups: Sequence[str], plan: Plan, *, poisson_window_s: float = POISSON_WINDOW_S
) -> list[Search]:
    """Search every setup, one step of each in turn."""
    searches = [
        Search(
            name,
            Plan(SETUPS[name].workers, plan.ladder, plan.step, plan.resolution, plan.ceiling),
        )
        for name in setups
    ]
    for search in searches:
        search.baseline = measure(search.setup, 1, None, poisson_window_s=poisson_window_s)
        _show(search.baseline)
    active = list(searches)
    while active:
        for search in list(active):
            calls = next_calls(search.outcomes, search.plan)
            if calls is None:
                active.remove(search)
                continue
            assert search.baseline is not None
            baseline_s = (search.baseline.v2v_p99_ms or 0) / 1000
            run = measure(search.setup, calls, baseline_s, poisson_window_s=poisson_window_s)
            search.runs.append(run)
            _show(run)
    return searches


def _show(run: Run) -> None:
    print(json.dumps(asdict(run)), file=sys.stderr, flush=True)
    print(describe(run), flush=True)


def verdict(search: Search) -> str:
    """The setup's capacity and what it costs there."""
    cores = search.plan.cores
    calls = search.calls
    head = f"{search.setup}: {calls} calls ({per_core(calls, cores):g} per core, {cores} "
    head += "core" if cores == 1 else "cores"
    best = search.at_capacity
    if best is None:
        return head + "): no N passed"
    if best.shared_cores:
        head += ", shared with the fakes and the load generator: not a per-core figure"
    passing = [run for run in search.runs if run.passed and run.calls <= calls]
    greeting_ok = all(
        run.greeting_p95_ms is not None and run.greeting_p95_ms < GREETING_P95_LIMIT_MS
        for run in passing
    )
    added = "–" if best.added_p99_ms is None else f"{best.added_p99_ms:+}"
    gc = f"{best.gc_pauses} GC pauses ({best.gc_pause_total_ms} ms in all"
    if best.gc_pause_longest_under_ms is not None:
        gc += f", longest under {best.gc_pause_longest_under_ms} ms"
    return (
        f"{head}); at {calls}: {best.cpu_per_call_pct} % of a core and "
        f"{best.rss_per_call_mib} MiB per call, greeting p95 {best.greeting_p95_ms} ms "
        f"(under {GREETING_P95_LIMIT_MS:g} ms at every passing N: "
        f"{'yes' if greeting_ok else 'no'}), reply p99 {best.v2v_p99_ms} ms ({added} ms "
        f"over unloaded), longest loop stall {best.loop_stall_longest_ms} ms, {gc})"
    )


def scaling(searches: Sequence[Search]) -> str | None:
    """Two workers over one, when both were searched."""
    by_name = {search.setup: search for search in searches}
    one, two = by_name.get("aybiza"), by_name.get("aybiza-2w")
    if one is None or two is None:
        return None
    value = ratio(two.calls, one.calls)
    if value is None:
        return "aybiza-2w / aybiza: n/a (one worker passed no N)"
    return f"aybiza-2w / aybiza: {value:.2f}x ({two.calls} / {one.calls} calls; target 2x ± 10 %)"


def table(searches: Sequence[Search], command: str) -> str:
    """Every run of the searches, as Markdown, for docs/benchmarks.md."""
    lines = [
        f"Command: `{command}`",
        "",
        "| setup | N | placed (peak) | CPU/call | RSS/call | server cores (busiest 5 s) | "
        "greeting p50 / p95 | reply p50 / p99 | added p99 | longest loop stall | GC pauses | "
        "calls with gaps | dropped | passes |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for search in searches:
        for run in [r for r in [search.baseline] if r is not None] + search.runs:
            lines.append(
                f"| {run.server} | {run.calls} | {run.calls_placed} ({run.peak_concurrent}) | "
                f"{run.cpu_per_call_pct} % | {run.rss_per_call_mib} MiB | "
                f"{run.server_core_busiest_pct} % | {run.greeting_p50_ms} / "
                f"{run.greeting_p95_ms} ms | {run.v2v_p50_ms} / {run.v2v_p99_ms} ms | "
                f"{run.added_p99_ms} ms | {run.loop_stall_longest_ms} ms | "
                f"{run.gc_pauses} ({run.gc_pause_total_ms} ms) | {run.calls_with_gaps} | "
                f"{run.dropped} | {'yes' if run.passed else 'no'} |"
            )
    return "\n".join(lines)


def capacity_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``--capacity`` with its options: search, then print the table and the verdicts."""
    setups = (args.setups or "aybiza").split(",")
    unknown = [name for name in setups if name not in SETUPS or not name.startswith("aybiza")]
    if unknown:
        parser.error(f"--capacity searches AYBIZA setups; unknown: {', '.join(unknown)}")
    ladder = tuple(int(n) for n in args.ladder.split(",")) if args.ladder else LADDER
    try:
        plan = Plan(ladder=ladder, resolution=args.resolution, ceiling=args.ceiling)
    except ValueError as exc:
        parser.error(f"--ladder/--resolution: {exc}")
    searches = run_searches(setups, plan, poisson_window_s=args.poisson_window_s)
    command = " ".join(["python -m bench.run", *sys.argv[1:]])
    print(table(searches, command))
    print()
    for search in searches:
        print(verdict(search))
    ratio_line = scaling(searches)
    if ratio_line is not None:
        print(ratio_line)
