"""Call recording: what the audio tap adds per 20 ms frame on the call's hot path, what a call's
audio holds in memory while it runs, and how long the stereo WAV of a long call takes to
encode when it ends.

A call of ``--minutes`` is simulated as the recorder sees one: a caller frame every 20 ms and,
half of the time, the agent's answer arriving in 400 ms pieces, with a barge-in (``clear``)
every 30 s. The per-frame cost is the best of ``--repeats`` runs (the machine's other work only
ever adds).

    PYTHONPATH=src:. python -m bench.recording
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from aybiza.analytics.call_audio import CallAudio
from aybiza.audio.codec import FRAME_BYTES, pcm16_to_ulaw

FRAMES_PER_S = 50


def _speech_like(seconds: float) -> bytes:
    samples = np.arange(int(8000 * seconds))
    wave = 6000 * np.sin(2 * np.pi * 220 * samples / 8000) * np.sin(np.pi * samples / 4000)
    return pcm16_to_ulaw(wave.astype(np.int16))


def _run(minutes: float) -> tuple[CallAudio, float]:
    caller = _speech_like(1.0)
    answer = _speech_like(0.4)
    audio = CallAudio()
    frames = int(minutes * 60 * FRAMES_PER_S)
    started = time.perf_counter()
    for index in range(frames):
        offset = (index % FRAMES_PER_S) * FRAME_BYTES
        audio.caller(caller[offset : offset + FRAME_BYTES])
        second = index // FRAMES_PER_S
        if second % 2 and index % 20 == 0:
            audio.agent(answer)
        if index % (30 * FRAMES_PER_S) == 0:
            audio.cleared()
    return audio, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the call")
    parser.add_argument("--repeats", type=int, default=5, help="runs (best kept)")
    args = parser.parse_args()
    best_tap = best_wav = float("inf")
    for _ in range(args.repeats):
        audio, tap_s = _run(args.minutes)
        started = time.perf_counter()
        wav = audio.wav()
        best_wav = min(best_wav, time.perf_counter() - started)
        best_tap = min(best_tap, tap_s)
    frames = int(args.minutes * 60 * FRAMES_PER_S)
    held = audio.samples * 2
    print(f"a {args.minutes:g}-minute call ({frames} caller frames), best of {args.repeats}")
    print(f"tap per 20 ms frame: {best_tap / frames * 1e6:.2f} us")
    print(f"audio held while the call runs: {held / 2**20:.1f} MiB (mu-law, both sides)")
    print(f"WAV at the end: {len(wav) / 2**20:.1f} MiB, encoded in {best_wav * 1000:.0f} ms")


if __name__ == "__main__":
    main()
