"""CPU that N calls' RTP clocks cost the server: one task per call against the shared ticker.

N ``RtpEndpoint``s on loopback each send a packet every 20 ms to one sink socket (silence, as a
call does between answers) and hand a frame a tick to their listener, as a call does all along.
Two ways of pacing them are run one after the other, alternately, in the same process:

- ``task``: each endpoint's own task sleeps until its next slot (``RtpSender.next_slot``), as
  every endpoint did before the shared ticker;
- ``ticker``: the event loop's one ``MediaTicker`` calls every endpoint per tick (production).

For each round it prints the process's CPU time per call-second (CPU % of one core per call)
and the share of packets sent late or skipped. Compare the two as a ratio within one run: the
machine's load moves both.

    python -m bench.rtp_clock --calls 200 --seconds 5 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import statistics
import time

import uvloop

from aybiza.telephony.sip.media import RtpEndpoint
from aybiza.telephony.sip.offer_answer import MediaParams
from aybiza.telephony.sip.ports import PortRange, RtpPortAllocator
from aybiza.telephony.sip.ticker import ticker_for


class Listener:
    """Takes each frame as a call loop would, keeping nothing."""

    async def on_audio(self, frame: bytes) -> None:
        return None

    async def on_dtmf(self, digit: str) -> None:
        return None

    def on_mark(self, name: str) -> None:
        return None


async def _own_task(endpoint: RtpEndpoint) -> None:
    while True:
        await endpoint.sender.next_slot()
        endpoint._slot()


async def one_round(mode: str, calls: int, seconds: float, sink_port: int) -> tuple[float, int]:
    """CPU % of a core per call, and the slots skipped, for ``calls`` endpoints paced by
    ``mode`` for ``seconds``."""
    allocator = RtpPortAllocator(PortRange(40000, 40000 + 4 * calls + 100))
    params = MediaParams("PCMU", 0, 101, "127.0.0.1", sink_port, sink_port + 1, "sendrecv")
    endpoints = [RtpEndpoint(allocator.bind(), params, Listener(), allocator=allocator)
                 for _ in range(calls)]  # fmt: skip
    tasks: list[asyncio.Task[None]] = []
    for endpoint in endpoints:
        await endpoint.start()
        if mode == "task":
            ticker_for().remove(endpoint._on_tick)
            tasks.append(asyncio.create_task(_own_task(endpoint)))
    await asyncio.sleep(0.5)  # settle
    cpu, wall = time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    skipped = sum(endpoint.sender.skipped_slots for endpoint in endpoints)
    for endpoint in endpoints:
        await endpoint.close()
    return 100 * cpu / wall / calls, skipped


async def run(calls: int, seconds: float, rounds: int) -> dict[str, list[float]]:
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.setblocking(False)
    loop = asyncio.get_running_loop()
    loop.add_reader(sink.fileno(), lambda: _drain(sink))
    results: dict[str, list[float]] = {"task": [], "ticker": []}
    try:
        for n in range(rounds):
            for mode in ("task", "ticker") if n % 2 == 0 else ("ticker", "task"):
                share, skipped = await one_round(mode, calls, seconds, sink.getsockname()[1])
                results[mode].append(share)
                print(f"round {n + 1} {mode:<6} {share:.3f} % of a core per call "
                      f"({skipped} slots skipped)")  # fmt: skip
    finally:
        loop.remove_reader(sink.fileno())
        sink.close()
    return results


def _drain(sink: socket.socket) -> None:
    with contextlib.suppress(BlockingIOError):
        while True:
            sink.recv(2048)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    uvloop.install()  # as the server runs
    results = asyncio.run(run(args.calls, args.seconds, args.rounds))
    task, ticker = statistics.median(results["task"]), statistics.median(results["ticker"])
    print(f"median: task {task:.3f} %, ticker {ticker:.3f} % of a core per call "
          f"(ticker/task {ticker / task:.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
