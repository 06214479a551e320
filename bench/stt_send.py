"""CPU per caller frame on the way to Deepgram, sent frame by frame or in batches.

python -m bench.stt_send [--streams 100] [--seconds 5] [--rounds 2] [--holds 0,40,60,100]

This process (pinned to core 0) opens ``--streams`` live-transcription streams through
``DeepgramStt`` to the fake Deepgram (``tests/fakes/deepgram.py``, its own process on core 1)
and feeds each one 20 ms μ-law frame every 20 ms, all through ``RecognitionFeed.push`` with one
fixed ``hold_ms`` per run: 0 is one WebSocket message per frame, 40/60/100 one message per 2/3/5
frames. Its CPU time over the run divided by the frames pushed is the figure: the feed, the
stream's bookkeeping, the masking and the socket writes. What a hold costs in latency is the
hold itself, at most: a frame waits for the ones after it (``aybiza.pipeline.recognition_feed``
says which frames may wait). Holds are interleaved round by round.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time

import uvloop
from tests.fakes.deepgram import FAKE_API_KEY

from aybiza.agents.speech import SttOptions
from aybiza.audio.codec import FRAME_BYTES
from aybiza.pipeline.recognition_feed import RecognitionFeed
from aybiza.providers.stt.deepgram import DeepgramStt

FRAME_S = 0.020
OFFSETS = 10


async def _run(url: str, streams: int, seconds: float, hold: int) -> float:
    stt = DeepgramStt(FAKE_API_KEY, base_url=url)
    opened = [await stt.open_stream(SttOptions()) for _ in range(streams)]
    feeds = [RecognitionFeed(stream) for stream in opened]
    groups = [feeds[offset::OFFSETS] for offset in range(OFFSETS)]
    frames = [bytes([0xFF - n % 4]) * FRAME_BYTES for n in range(8)]
    pushed = 0
    start = time.monotonic()
    cpu = time.process_time()
    tick = 0
    try:
        while time.monotonic() - start < seconds:
            frame = frames[tick % len(frames)]
            for step, group in enumerate(groups):
                delay = start + tick * FRAME_S + step * FRAME_S / OFFSETS - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                for feed in group:
                    await feed.push(frame, hold_ms=hold)
                pushed += len(group)
            tick += 1
        used = time.process_time() - cpu
    finally:
        for stream in opened:
            await stream.close()
        await stt.aclose()
    return used / pushed


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def main() -> None:
    parser = argparse.ArgumentParser(description="CPU per caller frame sent to Deepgram")
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--holds", default="0,40,60,100")
    args = parser.parse_args()
    holds = [int(hold) for hold in args.holds.split(",")]
    port = _free_port()
    fake = subprocess.Popen(
        ["taskset", "-c", "1", sys.executable, "tests/fakes/deepgram.py", "--port", str(port)],
        stdout=subprocess.DEVNULL,
    )
    os.sched_setaffinity(0, {0})
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or fake.poll() is not None:
                    raise RuntimeError("the fake Deepgram did not start") from None
                time.sleep(0.1)
        url = f"ws://127.0.0.1:{port}"
        results: dict[int, list[float]] = {hold: [] for hold in holds}
        for _ in range(args.rounds):
            for hold in holds:
                results[hold].append(uvloop.run(_run(url, args.streams, args.seconds, hold)))
    finally:
        fake.terminate()
        fake.wait()
    base = min(results[holds[0]])
    print(f"{args.streams} streams x 50 frames/s, {args.seconds:.0f} s x {args.rounds} rounds")
    for hold, values in results.items():
        best = min(values)
        shown = " ".join(f"{value * 1e6:5.1f}" for value in values)
        label = f"hold {hold:3d} ms ({max(hold // 20, 1)} frame(s) a message)"
        print(
            f"{label:34s} {best * 1e6:5.1f} us CPU per frame (rounds: {shown})  x{best / base:.2f}"
        )


if __name__ == "__main__":
    main()
