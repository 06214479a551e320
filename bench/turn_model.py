"""What one end-of-turn decision costs: log-mel features and the Smart Turn v3.2 ONNX model.

Runs the decisions the server runs (8 kHz caller audio -> 16 kHz -> (80, 800) log-mels ->
onnxruntime on one thread) on espeak-ng sentences and prints wall-clock and CPU time per stage,
p50/p95, and the probability the model gave each sentence (a finished one and a cut-short one).

    python -m bench.turn_model                 # 40 decisions
    python -m bench.turn_model --decisions 200
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import TypeVar

import numpy as np
from tests.e2e.turn_rig import spoken

from aybiza.audio.codec import ulaw_to_array
from aybiza.audio.log_mel import log_mel, telephony_window
from aybiza.providers.turn.model import INPUT_NAME, EndOfTurnModel
from aybiza.providers.turn.weights import INSTALL_COMMAND, model_path

T = TypeVar("T")
SENTENCES = ("Where is my order", "I want to cancel", "My number is five five five one two")


def timed(run: Callable[[], T]) -> tuple[T, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    return result, (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def summary(name: str, values: Sequence[float]) -> str:
    p95 = statistics.quantiles(values, n=20, method="inclusive")[18] if len(values) > 1 else 0
    return f"  {name:<28} p50 {statistics.median(values):6.1f} ms   p95 {p95:6.1f} ms"


def measure(decisions: int) -> None:
    path = model_path()
    if not path.is_file():
        raise SystemExit(f"no weights at {path}: {INSTALL_COMMAND}")
    model = EndOfTurnModel(path)
    _, load_ms, _ = timed(model.warm)
    audio = {
        text: np.concatenate([ulaw_to_array(speech), np.zeros(960, np.int16)])
        for text, speech in zip(SENTENCES, asyncio.run(_speak()), strict=True)
    }
    session = model._load()
    stages: dict[str, list[float]] = {}
    for index in range(decisions):
        pcm = audio[SENTENCES[index % len(SENTENCES)]]
        window, *resample = timed(partial(telephony_window, pcm))
        features, *mel = timed(partial(log_mel, window))
        _, *infer = timed(partial(session.run, None, {INPUT_NAME: features[None]}))
        for stage, (wall, cpu) in (("resample", resample), ("log-mel", mel), ("onnx", infer)):
            stages.setdefault(f"{stage} wall", []).append(wall)
            stages.setdefault(f"{stage} cpu", []).append(cpu)
        stages.setdefault("decision wall", []).append(resample[0] + mel[0] + infer[0])
        stages.setdefault("decision cpu", []).append(resample[1] + mel[1] + infer[1])
    print(f"end-of-turn model {path.name}: session load {load_ms:.0f} ms, {decisions} decisions")
    for name, values in stages.items():
        print(summary(name, values))
    for text, pcm in audio.items():
        print(f"  P(finished) {model.probability(pcm):.2f}  {text!r} (+120 ms silence)")


async def _speak() -> list[bytes]:
    return [await spoken(text) for text in SENTENCES]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=40)
    measure(parser.parse_args(argv).decisions)


if __name__ == "__main__":
    main()
