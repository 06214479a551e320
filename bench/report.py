"""Writes the benchmark's figures to docs/benchmarks.md and a chart to docs/benchmarks.png."""

from __future__ import annotations

import platform
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.run import Run

REPO = Path(__file__).resolve().parents[1]
MARKDOWN = REPO / "docs" / "benchmarks.md"
CHART = REPO / "docs" / "benchmarks.png"
BEGIN = "<!-- capacity:begin -->"
END = "<!-- capacity:end -->"


def _cell(value: object) -> str:
    return "–" if value is None else str(value)


def capacity_section(runs: Sequence[Run], headline: str, command: str) -> str:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
    ).stdout.strip()
    lines = [
        BEGIN,
        "## Capacity per core, side by side with Pipecat",
        "",
        f"Command: `{command}` · commit `{commit}` · {datetime.now(UTC):%Y-%m-%d %H:%M} UTC · "
        f"{platform.machine()}, server pinned to one core (`taskset -c 0`), fakes and load "
        "generator on the other · injected engine latency: STT 150 ms, LLM first token 300 ms, "
        "TTS first audio 100 ms.",
        "",
        f"**Headline: {headline}.**",
        "",
        "| server | N | CPU/call | RSS/call | greeting p50 | v2v p50 | v2v p95 | v2v p99 | "
        "added p99 | platform-added p99 | clear p50 | calls with gaps | dropped | "
        "server core (busiest 5 s) | generator core | real-time |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        lines.append(
            f"| {run.server} | {run.calls} | {run.cpu_per_call_pct} % | "
            f"{run.rss_per_call_mib} MiB | {_cell(run.greeting_p50_ms)} ms | "
            f"{_cell(run.v2v_p50_ms)} ms | {_cell(run.v2v_p95_ms)} ms | "
            f"{_cell(run.v2v_p99_ms)} ms | {_cell(run.added_p99_ms)} ms | "
            f"{_cell(run.platform_added_p99_ms)} ms | {_cell(run.clear_p50_ms)} ms | "
            f"{run.calls_with_gaps} ({run.audible_gaps} gaps) | {run.dropped} | "
            f"{run.server_core_busiest_pct} % | {run.generator_core_pct} % | "
            f"{'yes' if run.passed else 'no'} |"
        )
    lines += [
        "",
        "- *v2v*: end of the caller's speech to the first agent audio, measured by the caller.",
        "- *added p99*: v2v p99 at N minus the same server's v2v p99 at N = 1 (what load "
        "adds). *platform-added p99*: AYBIZA's own per-turn measure of the time not spent "
        "waiting on an engine (from its call records).",
        "- *real-time*: no dropped call, no audible gap (agent audio > 40 ms late inside an "
        "answer) and added p99 under 20 ms.",
        "- *CPU/call*: the server's CPU over the whole run (ramp-up and wind-down included) "
        "per call; *server core (busiest 5 s)*: the server's use of its core in the busiest "
        "5 s of the run, with every call up.",
        "- *generator core*: CPU of the load generator and the fake engines, which share the "
        "second core; near 100 % the run measures the generator's limit, not the server's.",
        "- Chart: [benchmarks.png](benchmarks.png). Timings on this shared 2-core machine are "
        "noisy: compare within one run.",
        END,
    ]
    return "\n".join(lines)


def beyond_table(runs: Sequence[Run], command: str) -> str:
    """AYBIZA measured past the criterion, as a Markdown table."""
    lines = [
        f"Command: `{command}`",
        "",
        "| N | CPU/call | RSS/call | server core (busiest 5 s) | greeting p50 / p95 | "
        "v2v p50 | v2v p95 | v2v p99 | added p99 | platform-added p99 | clear p50 | "
        "longest loop stall | GC pauses | calls with gaps | dropped | generator core |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        lines.append(
            f"| {run.calls} | {run.cpu_per_call_pct} % | {run.rss_per_call_mib} MiB | "
            f"{run.server_core_busiest_pct} % | {_cell(run.greeting_p50_ms)} / "
            f"{_cell(run.greeting_p95_ms)} ms | {_cell(run.v2v_p50_ms)} ms | "
            f"{_cell(run.v2v_p95_ms)} ms | {_cell(run.v2v_p99_ms)} ms | "
            f"{_cell(run.added_p99_ms)} ms | {_cell(run.platform_added_p99_ms)} ms | "
            f"{_cell(run.clear_p50_ms)} ms | {_cell(run.loop_stall_longest_ms)} ms | "
            f"{run.gc_pauses} ({run.gc_pause_total_ms} ms) | "
            f"{run.calls_with_gaps} ({run.audible_gaps} gaps) | {run.dropped} | "
            f"{run.generator_core_pct} % |"
        )
    return "\n".join(lines)


def write_chart(runs: Sequence[Run]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (latency, cpu) = plt.subplots(1, 2, figsize=(11, 4))
    for server in sorted({run.server for run in runs}):
        points = [run for run in runs if run.server == server]
        calls = [run.calls for run in points]
        latency.plot(calls, [run.v2v_p99_ms or 0 for run in points], marker="o", label=server)
        cpu.plot(calls, [run.cpu_per_call_pct for run in points], marker="o", label=server)
    latency.set(xscale="log", xlabel="concurrent calls (one core)", ylabel="v2v p99 (ms)")
    cpu.set(xscale="log", xlabel="concurrent calls (one core)", ylabel="CPU per call (%)")
    for axis in (latency, cpu):
        axis.grid(True, alpha=0.3)
        axis.legend()
    figure.suptitle("AYBIZA vs Pipecat: latency and CPU per call on one pinned core")
    figure.tight_layout()
    figure.savefig(CHART, dpi=110)


def write_report(runs: Sequence[Run], best: dict[str, int], headline: str, command: str) -> None:
    """Replace the capacity section of docs/benchmarks.md (or add it) and redraw the chart."""
    del best
    section = capacity_section(runs, headline, command)
    text = MARKDOWN.read_text() if MARKDOWN.exists() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + section + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    MARKDOWN.write_text(text)
    write_chart(runs)
