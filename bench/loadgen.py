"""Load generator: N simulated Twilio callers over real WebSockets (or N SIP callers over RTP,
``--sip URI``) against a running server.

Each caller follows a script of synthesized speech at real-time pace (20 ms frames on a
jitter-free clock, marks echoed when their audio would have played), barging in on some turns,
and records greeting latency, voice-to-voice latency per turn, audible gaps in the agent's audio,
``clear`` latency after a barge-in, and whether the call dropped.

The callers of a worker process share one ``bench.crowd.Crowd`` (``bench.sip_crowd.SipCrowd`` for
SIP): one ticker sends every caller's frames, preformatted, so one process keeps hundreds of calls
at real-time pace on a fraction of a core. Callers can still be spread over worker processes
(``--processes``); each worker sends one dict per call back to the parent, which aggregates.

    python -m bench.loadgen --url http://127.0.0.1:8080 --calls 50 --processes 1
    python -m bench.loadgen --url http://127.0.0.1:8080 --poisson 2 --mean-call-s 30

``--poisson RATE``: calls ring as a Poisson process (``bench.arrivals``) for ``--window-s``
seconds, each staying an exponential time of mean ``--mean-call-s``; the summary adds the peak
and mean concurrency.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import os
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import uvloop

from aybiza.agents.speech import VoiceOptions
from aybiza.audio.codec import silence
from aybiza.providers.tts.espeak import EspeakTts
from aybiza.simulator.earpiece import ReceivedEvent
from bench.arrivals import Arrival, mean_concurrency, peak_concurrency, poisson, ramp
from bench.crowd import Crowd
from bench.sip_caller import SipCaller
from bench.sip_crowd import SipCrowd
from bench.sip_playout import prepare_sip_line
from bench.twilio_messages import prepare_line

Carrier = Literal["twilio", "sip"]

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
    # When the caller rang and hung up (CLOCK_MONOTONIC, shared by the generator's processes).
    rang_at: float = 0.0
    hung_up_at: float = 0.0


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
    dial: Callable[[], Awaitable[Any]],
    index: int,
    lines: list[Any],
    barge_every: int,
    timeout_s: float,
    hold_s: float | None = None,
) -> CallResult:
    """One caller's script: the greeting, then each line, barging in on every
    ``barge_every``-th answer; always hangs up. ``dial`` places the call (a Twilio
    ``bench.twilio_caller.Caller`` or a ``bench.sip_crowd.SipCaller``); ``lines`` are its lines.
    With ``hold_s`` the caller goes round its lines until ``hold_s`` seconds after it rang
    (at least one line), instead of speaking each once."""
    result = CallResult(index, rang_at=time.monotonic())
    try:
        call = await dial()
    except Exception as exc:
        result.error = f"dial: {type(exc).__name__}: {exc}"
        result.hung_up_at = time.monotonic()
        return result
    result.call_sid = call.call_sid
    answer_starts = [call.opened_at]
    try:
        await call.wait_for_agent_audio(timeout=timeout_s)
        result.greeting_latency_s = call.greeting_latency
        await call.wait_until_agent_done(quiet_ms=800, timeout=timeout_s)
        for turn, line in enumerate(_script(lines, hold_s, result.rang_at), start=1):
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
        if isinstance(call, SipCaller):
            result.gaps_s = call.playout.gaps_s  # RTP: timed by the packets' own timestamps
        else:
            result.gaps_s = audible_gaps(call.received_events, answer_starts)
        result.ok = not call.ended
        if call.ended:
            result.error = f"dropped: closed by server ({call.close_code} {call.close_reason})"
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        await call.hangup()
        result.hung_up_at = time.monotonic()
    return result


def _script(lines: list[Any], hold_s: float | None, rang_at: float) -> Iterator[Any]:
    """The lines a caller speaks: each once, or (``hold_s``) round and round until ``hold_s``
    seconds after ``rang_at``, checked before each line after the first."""
    if hold_s is None:
        yield from lines
        return
    turn = 0
    while turn == 0 or time.monotonic() - rang_at < hold_s:
        yield lines[turn % len(lines)]
        turn += 1


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
        audio = await _synthesize(options["lines"])
        sip = options["carrier"] == "sip"
        lines: list[Any] = [(prepare_sip_line if sip else prepare_line)(a) for a in audio]
        # Everything built so far lives as long as the process: keep it out of the collector.
        gc.collect()
        gc.freeze()
        schedule: list[Arrival] = options["schedule"]
        phases = options["phases"]
        async with SipCrowd(phases=phases) if sip else Crowd(phases=phases) as crowd:

            def dial() -> Awaitable[Any]:
                if isinstance(crowd, SipCrowd):
                    return crowd.dial(options["sip_uri"])
                return crowd.dial(
                    options["url"], to=options["to"], auth_token=options["auth_token"]
                )

            tasks = []
            started = time.monotonic()
            for index in indices:
                arrival = schedule[index]
                tasks.append(asyncio.create_task(_delayed(dial, started, arrival, index, lines)))
            for task in asyncio.as_completed(tasks):
                out.put(asdict(await task))

    async def _delayed(
        dial: Callable[[], Awaitable[Any]],
        started: float,
        arrival: Arrival,
        index: int,
        lines: list[Any],
    ) -> CallResult:
        await asyncio.sleep(max(0.0, started + arrival.at_s - time.monotonic()))
        return await run_call(
            dial, index, lines, options["barge_every"], options["timeout_s"], arrival.hold_s
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
    carrier: Carrier = "twilio",
    sip_uri: str | None = None,
    phases: int = PHASES,
    arrivals: list[Arrival] | None = None,
) -> list[dict[str, Any]]:
    """Run ``calls`` concurrent callers across ``processes`` workers; one dict per call.
    ``arrivals``: when each caller rings and how long it stays (``bench.arrivals``; Poisson
    arrivals), instead of ``calls`` ramped over ``ramp_s`` seconds.
    ``cpus``: the CPUs the workers may run on (the benchmark keeps them off the server's).
    ``carrier`` ``sip``: the callers dial ``sip_uri`` over SIP and RTP instead.
    ``phases``: how many evenly spaced offsets within the 20 ms frame the callers' frames leave
    at (10: staggered, as independent calls; 1: every caller in step on one clock)."""
    if carrier == "sip" and not sip_uri:
        raise ValueError("a SIP load needs sip_uri (sip:NUMBER@HOST:PORT)")
    schedule = arrivals if arrivals is not None else ramp(calls, ramp_s)
    calls = len(schedule)
    options = {
        "carrier": carrier,
        "sip_uri": sip_uri,
        "url": url,
        "to": to,
        "auth_token": auth_token,
        "lines": list(lines),
        "barge_every": barge_every,
        "schedule": schedule,
        "timeout_s": timeout_s,
        "cpus": sorted(cpus) if cpus else None,
        "phases": phases,
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
    intervals = [(r["rang_at"], r["hung_up_at"]) for r in results if r["hung_up_at"]]
    return {
        "calls": len(results),
        "dropped": sum(1 for r in results if not r["ok"]),
        "errors": sorted({r["error"] for r in results if r["error"]})[:5],
        "greeting_p50_s": percentile(greetings, 50),
        "greeting_p95_s": percentile(greetings, 95),
        "greeting_p99_s": percentile(greetings, 99),
        "v2v_p50_s": percentile(turns, 50),
        "v2v_p95_s": percentile(turns, 95),
        "v2v_p99_s": percentile(turns, 99),
        "clear_p50_s": percentile(clears, 50),
        "audible_gaps": len(gaps),
        "calls_with_gaps": sum(1 for r in results if r["gaps_s"]),
        "unanswered_turns": sum(r["unanswered_turns"] for r in results),
        "peak_concurrent": peak_concurrency(intervals),
        "mean_concurrent": round(mean_concurrency(intervals), 1),
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
    parser.add_argument("--sip", metavar="URI", help="call this SIP URI over SIP and RTP instead")
    parser.add_argument(
        "--phases", type=int, default=PHASES, help="frame offsets (1: all callers in step)"
    )
    parser.add_argument(
        "--poisson",
        metavar="RATE",
        type=float,
        help="Poisson arrivals at RATE calls a second (instead of --calls ramped)",
    )
    parser.add_argument("--window-s", type=float, default=120.0, help="--poisson: arrivals for")
    parser.add_argument(
        "--mean-call-s", type=float, default=30.0, help="--poisson: mean call duration"
    )
    parser.add_argument("--seed", type=int, default=15, help="--poisson: random seed")
    args = parser.parse_args(argv)
    arrivals = None
    if args.poisson is not None:
        arrivals = poisson(
            rate=args.poisson,
            window_s=args.window_s,
            mean_call_s=args.mean_call_s,
            rng=random.Random(args.seed),
        )
    results = run_load(
        arrivals=arrivals,
        carrier="sip" if args.sip else "twilio",
        sip_uri=args.sip,
        url=args.url,
        calls=args.calls,
        processes=args.processes,
        to=args.to,
        auth_token=args.auth_token,
        barge_every=args.barge_every,
        ramp_s=args.ramp_s,
        phases=args.phases,
    )
    json.dump(summarize(results), sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
