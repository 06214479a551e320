"""Turn taking through the real server with the Twilio (or SIP) simulator: barge-in and end of turn.

Two scripted sets (``tests/data/turns``), each trial one simulated call against ``aybiza
serve`` on the fake Deepgram (STT and TTS) and Bedrock with fixed latencies:

- ``barge_in.json``: backchannels, coughs and line noise (should not stop the greeting for
  good) and real interruptions (should), made 1 s into the greeting. Prints ``clear`` after
  the sound's onset (p50/p95), false barge-ins (non-interruptions cut), missed interruptions,
  and words repeated or skipped when the greeting resumed.
- ``end_of_turn.json``: sentences with a mid-sentence pause (cut off when the agent answers in
  the pause) and finished sentences. Prints the cut-off rate and the reply's first audio after
  the caller's last word, beyond the engines' injected delays (p50/p95).

    python -m bench.turns                       # both sets, this worktree's server
    python -m bench.turns --server-src /path/to/other/src   # the same trials against other code
    python -m bench.turns --carrier sip --concurrency 2
        # the same trials over SIP and RTP (tests/e2e/turn_rig_sip.py): "clear" is then the
        # agent's last voiced RTP packet before its RTP stopped
    python -m bench.turns --set end-of-turn --compare /path/to/before/src
        # two servers side by side, each end-of-turn trial run on the code before, then on
        # this code, interleaved; both reports and the after/before ratio of the reply p50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tests.e2e.turn_rig import (
    DATA,
    BargeInResult,
    EngineDelays,
    TurnResult,
    run_barge_in,
    run_turn,
    spoken,
    trial_audio,
    turn_stack,
)
from tests.e2e.turn_rig_sip import run_sip_barge_in, run_sip_turn, sip_turn_stack

T = TypeVar("T")
TRIAL_TIMEOUT_S = 60.0


def percentile(values: Sequence[float], q: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


async def _each(
    trials: list[dict[str, Any]],
    run: Callable[[dict[str, Any]], Awaitable[T]],
    concurrency: int,
) -> list[T]:
    gate = asyncio.Semaphore(concurrency)

    async def one(trial: dict[str, Any]) -> T | None:
        async with gate:
            try:
                return await asyncio.wait_for(run(trial), TRIAL_TIMEOUT_S)
            except Exception as exc:  # reported as a failed trial, never dropped silently
                print(f"  trial {trial['id']} failed: {type(exc).__name__}: {exc}", flush=True)
                return None

    results = await asyncio.gather(*(one(trial) for trial in trials))
    return [result for result in results if result is not None]


def report_barge_in(results: list[BargeInResult]) -> list[str]:
    others = [r for r in results if not r.interrupts]
    real = [r for r in results if r.interrupts]
    clears = [r.clear_ms for r in results if r.clear_ms is not None]
    false = [r.id for r in others if r.cut]
    missed = [r.id for r in real if not r.cut]
    resumed = [r for r in others if not r.cut]
    inexact = [r for r in resumed if r.repeated_ms or r.skipped_ms]
    return [
        f"barge-in set: {len(others)} backchannels/coughs/noise, {len(real)} interruptions",
        f"  clear after onset: p50 {_ms(percentile(clears, 50))}, p95 "
        f"{_ms(percentile(clears, 95))} ({len(clears)} trials with a clear)",
        f"  false barge-ins: {len(false)}/{len(others)} "
        f"({100 * len(false) / max(len(others), 1):.1f} %) {false}",
        f"  missed interruptions: {len(missed)}/{len(real)} {missed}",
        f"  resumed answers with repeated words: "
        f"{sum(1 for r in resumed if r.repeated_words)}/{len(resumed)} "
        f"(words repeated {sum(r.repeated_words for r in resumed)}, "
        f"skipped {sum(r.skipped_words for r in resumed)})",
        f"  resumed answers not joined to the byte: {len(inexact)}/{len(resumed)} (audio "
        f"repeated at most {max((r.repeated_ms for r in resumed), default=0):.1f} ms, skipped "
        f"at most {max((r.skipped_ms for r in resumed), default=0):.1f} ms)",
    ]


def report_turns(
    pauses: list[TurnResult], finished: list[TurnResult], engines_ms: int
) -> list[str]:
    cut = [r.id for r in pauses if r.cut_off]
    beyond = [r.reply_ms - engines_ms for r in finished if r.reply_ms is not None]
    beyond_paused = [
        r.reply_ms - engines_ms for r in pauses if r.reply_ms is not None and not r.cut_off
    ]
    return [
        f"end-of-turn set: {len(pauses)} sentences with a pause, {len(finished)} finished",
        f"  cut off mid-sentence: {len(cut)}/{len(pauses)} "
        f"({100 * len(cut) / max(len(pauses), 1):.1f} %) {cut}",
        f"  reply beyond engines ({engines_ms} ms), finished sentences: p50 "
        f"{_ms(percentile(beyond, 50))}, p95 {_ms(percentile(beyond, 95))}",
        f"  reply beyond engines, paused sentences not cut off: p50 "
        f"{_ms(percentile(beyond_paused, 50))}",
    ]


def _only(args: argparse.Namespace, data: dict[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """The set with only the trials ``--only`` names (all of them without ``--only``)."""
    if not args.only:
        return data
    wanted = set(args.only.split(","))
    return {**data, **{key: [t for t in data[key] if t["id"] in wanted] for key in keys}}


def _parameters(args: argparse.Namespace) -> dict[str, object] | None:
    """The agent parameters of the code under test (none: the agent's defaults)."""
    chosen: dict[str, object] = {}
    if args.speculative:
        chosen["speculative_answers"] = True
    if args.turn_model:
        chosen["end_of_turn_model"] = True
    return chosen or None


async def measure(args: argparse.Namespace) -> None:
    delays = EngineDelays(deepgram_ms=args.deepgram_ms, llm_ms=args.llm_ms)
    barge_set = _only(args, json.loads((DATA / "barge_in.json").read_text()), ("trials",))
    all_turns = json.loads((DATA / "end_of_turn.json").read_text())
    turn_set = _only(args, all_turns, ("pauses", "finished"))
    with tempfile.TemporaryDirectory(prefix="bench-turns-") as data_dir:
        sip = args.carrier == "sip"
        stack_cm = sip_turn_stack if sip else turn_stack
        run_one: Any = run_sip_turn if sip else run_turn
        barge_one: Any = run_sip_barge_in if sip else run_barge_in
        params = _parameters(args)
        async with stack_cm(
            Path(data_dir), delays, server_src=args.server_src, parameters=params
        ) as stack:
            lines = [
                f"engines: Deepgram STT/TTS {delays.deepgram_ms} ms, LLM first token "
                f"{delays.llm_ms} ms; server code: {args.server_src or 'this worktree'}; "
                f"carrier: {args.carrier}"
            ]
            # All caller audio first, one synthesis at a time.
            for trial in barge_set["trials"]:
                await trial_audio(trial)
            for trial in turn_set["pauses"] + turn_set["finished"]:
                for part in trial["parts"]:
                    await spoken(part)
            # One call first, not counted: the server's first call warms what loads lazily
            # (the redactor's recognisers take a second on the first number heard).
            await run_one(stack, all_turns["finished"][-1])
            if args.set in ("both", "barge-in"):
                results = await _each(
                    barge_set["trials"],
                    lambda t: barge_one(stack, t, barge_set["at_ms"]),
                    args.concurrency,
                )
                lines += report_barge_in(results)
                _details(args, "barge-in", results)
            if args.set in ("both", "end-of-turn"):
                pauses = await _each(
                    turn_set["pauses"], lambda t: run_one(stack, t), args.concurrency
                )
                finished = await _each(
                    turn_set["finished"], lambda t: run_one(stack, t), args.concurrency
                )
                lines += report_turns(pauses, finished, delays.total_ms)
                _details(args, "end-of-turn", pauses + finished)
    print("\n".join(lines), flush=True)


async def compare(args: argparse.Namespace) -> None:
    """End-of-turn trials on ``--compare`` code (before) and this code (after), interleaved:
    each trial runs on one then the other, so machine load falls on both alike."""
    delays = EngineDelays(deepgram_ms=args.deepgram_ms, llm_ms=args.llm_ms)
    turn_set = json.loads((DATA / "end_of_turn.json").read_text())
    trials = turn_set["pauses"] + turn_set["finished"]
    with (
        tempfile.TemporaryDirectory(prefix="bench-turns-before-") as before_dir,
        tempfile.TemporaryDirectory(prefix="bench-turns-after-") as after_dir,
    ):
        async with (
            turn_stack(Path(before_dir), delays, server_src=args.compare) as before,
            turn_stack(
                Path(after_dir), delays, server_src=args.server_src, parameters=_parameters(args)
            ) as after,
        ):
            for trial in trials:
                for part in trial["parts"]:
                    await spoken(part)
            for stack in (before, after):
                await run_turn(stack, turn_set["finished"][-1])  # warm-up, not counted

            async def pair(trial: dict[str, Any]) -> tuple[TurnResult, TurnResult]:
                return await run_turn(before, trial), await run_turn(after, trial)

            results = await _each(trials, pair, args.concurrency)
    pause_ids = {t["id"] for t in turn_set["pauses"]}
    lines = [
        f"engines: Deepgram STT/TTS {delays.deepgram_ms} ms, LLM first token {delays.llm_ms} "
        f"ms; before: {args.compare}; after: {args.server_src or 'this worktree'}"
    ]
    p50s = []
    for name, side in (("before", 0), ("after", 1)):
        done = [pair[side] for pair in results]
        pauses = [r for r in done if r.id in pause_ids]
        finished = [r for r in done if r.id not in pause_ids]
        lines.append(f"{name}:")
        lines += report_turns(pauses, finished, delays.total_ms)
        beyond = [r.reply_ms - delays.total_ms for r in finished if r.reply_ms is not None]
        p50s.append(percentile(beyond, 50))
        _details(args, name, done)
    if p50s[0] is not None and p50s[1] is not None:
        lines.append(
            f"reply beyond engines p50, finished sentences: after - before = "
            f"{p50s[1] - p50s[0]:+.0f} ms; reply p50 after/before = "
            f"{(p50s[1] + delays.total_ms) / (p50s[0] + delays.total_ms):.2f}"
        )
    print("\n".join(lines), flush=True)


def _details(args: argparse.Namespace, name: str, results: Sequence[object]) -> None:
    if args.verbose:
        for result in results:
            print(f"  {name}: {result}", flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=("both", "barge-in", "end-of-turn"), default="both")
    parser.add_argument("--deepgram-ms", type=int, default=150)
    parser.add_argument("--llm-ms", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=6)
    parser.add_argument("--server-src", help="run the server from this src directory")
    parser.add_argument(
        "--compare",
        metavar="BEFORE_SRC",
        help="end-of-turn set only: the same trials on this src directory and on this code, "
        "interleaved, two servers side by side",
    )
    parser.add_argument(
        "--carrier",
        choices=("twilio", "sip"),
        default="twilio",
        help="how the simulated caller reaches the server: Twilio media streams or SIP and RTP",
    )
    parser.add_argument("--verbose", action="store_true", help="print every trial")
    parser.add_argument(
        "--only", metavar="ID,ID", help="run only these trials (ids from tests/data/turns)"
    )
    parser.add_argument(
        "--speculative", action="store_true", help="the agent under test speculates (opt-in)"
    )
    parser.add_argument(
        "--turn-model", action="store_true", help="the agent under test uses the end-of-turn model"
    )
    args = parser.parse_args(argv)
    if args.compare and args.carrier != "twilio":
        parser.error("--compare runs over the Twilio simulator only (leave out --carrier)")
    asyncio.run(compare(args) if args.compare else measure(args))


if __name__ == "__main__":
    main()
