"""Load generator: N simulated Twilio callers over real WebSockets against a running server.

Each caller follows a script of synthesized speech at real-time pace (20 ms frames on a
jitter-free clock, marks echoed when their audio would have played), barging in on some turns,
and records greeting latency, voice-to-voice latency per turn, audible gaps in the agent's audio,
``clear`` latency after a barge-in, and whether the call dropped.

The callers of a worker process share one ``bench.crowd.Crowd``: one ticker sends every caller's
frames, preformatted, so one process keeps hundreds of calls at real-time pace on a fraction of a
core. Callers can still be spread over worker processes (``--processes``); each worker sends one
dict per call back to the parent, which aggregates.

    python -m bench.loadgen --url http://127.0.0.1:8080 --calls 50 --processes 1
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import uvloop

from aybiza.agents.speech import VoiceOptions
from aybiza.audio.codec import silence
from aybiza.providers.tts.espeak import EspeakTts
from aybiza.simulator.earpiece import ReceivedEvent
from bench.crowd import Crowd, Line, prepare_line

DEFAULT_LINES = (
    "I would like to book an appointment",
    "tomorrow morning",
    "what are your opening hours",
)
# An answer's audio that arrives this late after the previous chunk finished playing is heard as
# a gap (the caller hears silence in the middle of the agent's sentence).
AUDIBLE_GAP_S = 0.040
# Callers' frames leave at ten evenly spaced offsets within each 20 ms, as independent calls'
# frames do (Twilio streams are not in step); see ``Crowd``.
PHASES = 10


@dataclass(slots=True)
class CallResult:
    index: int
    call_sid: str = ""
    ok: bool = False
    error: str | None = None
    greeting_latency_s: float | None = None
    turn_latencies_s: list[float] = field(default_factory=list)
    clear_latencies_s: list[float] = field(default_factory=list)
    gaps_s: list[float] = field(default_factory=list)
    unanswered_turns: int = 0


def audible_gaps(events: list[ReceivedEvent], answer_starts: list[float]) -> list[float]:
    """Underruns of Twilio's playback queue inside an answer, longer than ``AUDIBLE_GAP_S``.

    ``answer_starts`` are the times after which the next media message starts a new answer
    (the stream start and each end of caller speech): silence before an answer is latency, not a
    gap. A ``clear`` empties the queue."""
    gaps: list[float] = []
    playing_until = 0.0
    boundaries = sorted(answer_starts)
    next_boundary = 0
    new_answer = True
    for event in events:
        while next_boundary < len(boundaries) and boundaries[next_boundary] <= event.at:
            next_boundary += 1
            new_answer = True
        if event.kind == "clear":
            playing_until = event.at
            continue
        if event.kind != "media":
            continue
        if not new_answer and event.at > playing_until + AUDIBLE_GAP_S:
            gaps.append(event.at - playing_until)
        start = max(playing_until, event.at)
        playing_until = start + event.byte_count / 8000
        new_answer = False
    return gaps


async def run_call(
    crowd: Crowd,
    index: int,
    url: str,
    to: str,
    auth_token: str | None,
    lines: list[Line],
    barge_every: int,
    timeout_s: float,
) -> CallResult:
    """One caller's script: the greeting, then each line, barging in on every
    ``barge_every``-th answer; always hangs up."""
    result = CallResult(index)
    try:
        call = await crowd.dial(url, to=to, auth_token=auth_token)
    except Exception as exc:
        result.error = f"dial: {type(exc).__name__}: {exc}"
        return result
    result.call_sid = call.call_sid
    answer_starts = [call.opened_at]
    try:
        await call.wait_for_agent_audio(timeout=timeout_s)
        result.greeting_latency_s = call.greeting_latency
        await call.wait_until_agent_done(quiet_ms=800, timeout=timeout_s)
        for turn, line in enumerate(lines, start=1):
            barge = barge_every > 0 and turn % barge_every == 0
            await call.say(line)
            answer_starts.append(time.monotonic())
            await call.wait_for_agent_audio(timeout=timeout_s)
            if barge:
                # Speak over the answer once it has started playing.
                await asyncio.sleep(0.3)
                clears_before = len(call.clears)
                spoke_at = time.monotonic()
                await call.say(line)
                answer_starts.append(time.monotonic())
                if len(call.clears) > clears_before:
                    result.clear_latencies_s.append(call.clears[clears_before] - spoke_at)
                await call.wait_for_agent_audio(timeout=timeout_s)
            await call.wait_until_agent_done(quiet_ms=800, timeout=timeout_s)
        result.turn_latencies_s = call.turn_latencies
        result.unanswered_turns = sum(1 for t in call.caller_turns if t.latency_s is None)
        result.gaps_s = audible_gaps(call.received_events, answer_starts)
        result.ok = not call.ended
        if call.ended:
            result.error = f"dropped: closed by server ({call.close_code} {call.close_reason})"
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        await call.hangup()
    return result


async def _synthesize(texts: list[str]) -> list[bytes]:
    tts = EspeakTts()
    try:
        return [
            silence(100) + await tts.synthesize(text, VoiceOptions(model="en-us")) for text in texts
        ]
    finally:
        await tts.aclose()


def _worker(options: dict[str, Any], indices: list[int], out: Any) -> None:
    if options["cpus"]:
        os.sched_setaffinity(0, options["cpus"])

    async def main() -> None:
        lines = [prepare_line(audio) for audio in await _synthesize(options["lines"])]
        # Everything built so far lives as long as the process: keep it out of the collector.
        gc.collect()
        gc.freeze()
        ramp_s = options["ramp_s"]
        async with Crowd(phases=PHASES) as crowd:
            tasks = []
            for position, index in enumerate(indices):
                delay = ramp_s * position / max(len(indices), 1)
                tasks.append(asyncio.create_task(_delayed(crowd, delay, index, lines)))
            for task in asyncio.as_completed(tasks):
                out.put(asdict(await task))

    async def _delayed(crowd: Crowd, delay: float, index: int, lines: list[Line]) -> CallResult:
        await asyncio.sleep(delay)
        return await run_call(
            crowd,
            index,
            options["url"],
            options["to"],
            options["auth_token"],
            lines,
            options["barge_every"],
            options["timeout_s"],
        )

    uvloop.run(main())


def run_load(
    *,
    url: str,
    calls: int,
    processes: int = 1,
    to: str = "+15005550006",
    auth_token: str | None = None,
    lines: tuple[str, ...] = DEFAULT_LINES,
    barge_every: int = 3,
    ramp_s: float = 2.0,
    timeout_s: float = 30.0,
    cpus: set[int] | None = None,
) -> list[dict[str, Any]]:
    """Run ``calls`` concurrent callers across ``processes`` workers; one dict per call.
    ``cpus``: the CPUs the workers may run on (the benchmark keeps them off the server's)."""
    options = {
        "url": url,
        "to": to,
        "auth_token": auth_token,
        "lines": list(lines),
        "barge_every": barge_every,
        "ramp_s": ramp_s,
        "timeout_s": timeout_s,
        "cpus": sorted(cpus) if cpus else None,
    }
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    shares = [list(range(calls))[i::processes] for i in range(processes)]
    workers = [
        context.Process(target=_worker, args=(options, share, queue)) for share in shares if share
    ]
    for worker in workers:
        worker.start()
    results = [queue.get() for _ in range(calls)]
    for worker in workers:
        worker.join()
    return results


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[max(0, min(98, int(q) - 1))]


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    turns = [v for r in results for v in r["turn_latencies_s"]]
    greetings = [r["greeting_latency_s"] for r in results if r["greeting_latency_s"] is not None]
    clears = [v for r in results for v in r["clear_latencies_s"]]
    gaps = [v for r in results for v in r["gaps_s"]]
    return {
        "calls": len(results),
        "dropped": sum(1 for r in results if not r["ok"]),
        "errors": sorted({r["error"] for r in results if r["error"]})[:5],
        "greeting_p50_s": percentile(greetings, 50),
        "greeting_p99_s": percentile(greetings, 99),
        "v2v_p50_s": percentile(turns, 50),
        "v2v_p95_s": percentile(turns, 95),
        "v2v_p99_s": percentile(turns, 99),
        "clear_p50_s": percentile(clears, 50),
        "audible_gaps": len(gaps),
        "calls_with_gaps": sum(1 for r in results if r["gaps_s"]),
        "unanswered_turns": sum(r["unanswered_turns"] for r in results),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--to", default="+15005550006")
    parser.add_argument("--auth-token", default=None)
    parser.add_argument("--barge-every", type=int, default=3)
    parser.add_argument("--ramp-s", type=float, default=2.0)
    args = parser.parse_args(argv)
    results = run_load(
        url=args.url,
        calls=args.calls,
        processes=args.processes,
        to=args.to,
        auth_token=args.auth_token,
        barge_every=args.barge_every,
        ramp_s=args.ramp_s,
    )
    json.dump(summarize(results), sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
