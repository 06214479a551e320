"""Answering-machine detection: accuracy over the scripted callees
(``tests/data/answering_machines.json``), when each was decided and when a voicemail message
would start, and what the detector costs per 20 ms frame (best of ``--repeats`` passes).

    PYTHONPATH=.:src python -m bench.machine_detection
"""

from __future__ import annotations

import argparse
import time

from tests.pipeline.callee_audio import cases, frames, render
from tests.pipeline.detection_set import run_case

from aybiza.pipeline.machine_detection import MachineDetector


def _us_per_frame(audio: bytes, repeats: int) -> float:
    chunks = frames(audio)
    best = float("inf")
    for _ in range(repeats):
        detector = MachineDetector()
        started = time.perf_counter()
        for frame in chunks:
            detector.feed(frame)
            detector.decision = None  # keep classifying: the cost of every frame in the window
        best = min(best, time.perf_counter() - started)
    return best / len(chunks) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timing passes (best kept)")
    args = parser.parse_args()
    rendered = [(case, render(case.script)) for case in cases()]
    outcomes = [run_case(case, audio) for case, audio in rendered]
    print("| case | label | detected | decided at ms | message end | message at ms |")
    print("|---|---|---|---|---|---|")
    for o in outcomes:
        d = o.detection
        print(
            f"| {o.case.id} | {o.case.label} | {d.answered_by if d else '-'} | "
            f"{d.at_ms if d else '-'} | {o.message_end or '-'} | {o.message_at_ms or '-'} |"
        )
    right = sum(o.right for o in outcomes)
    print(f"\naccuracy: {right}/{len(outcomes)} = {right / len(outcomes):.1%}")
    for label in ("human", "machine", "fax", "unknown"):
        group = [o for o in outcomes if o.case.label == label]
        ok = sum(o.right for o in group)
        print(f"  {label}: {ok}/{len(group)}")
    decided = [o.detection.at_ms for o in outcomes if o.detection is not None]
    print(f"decision time: median {sorted(decided)[len(decided) // 2]} ms, max {max(decided)} ms")
    longest = max((audio for _, audio in rendered), key=len)
    print(f"cost: {_us_per_frame(longest, args.repeats):.0f} µs per 20 ms frame (one core)")


if __name__ == "__main__":
    main()
