"""PII redaction: recall and precision per category over the labelled set of caller utterances
(``tests/data/pii_utterances.jsonl``), and what redacting one utterance costs.

Every utterance is redacted with all twelve categories on (the most work an agent can ask for),
with the agent line it answers; the time per utterance is the best of ``--repeats`` runs of each
(the machine's other work only ever adds), reported as mean, median, p99 and max, then the mean
with a single category on (what most agents ask for).

    PYTHONPATH=. python -m bench.pii
"""

from __future__ import annotations

import argparse
import statistics
import time

from tests.security.pii_eval import Utterance, load, score

from aybiza.security.pii import CATEGORIES, Redactor


def _best_us(redactor: Redactor, utterance: Utterance, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        redactor.redact(utterance.text, utterance.prompt)
        best = min(best, time.perf_counter() - started)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="runs per utterance (best kept)")
    args = parser.parse_args()
    utterances = load()
    everything = Redactor(CATEGORIES)
    scores = score(everything, utterances)
    print(f"{len(utterances)} utterances, all {len(CATEGORIES)} categories on\n")
    print("| category | expected | found | recall | findings | right | precision |")
    print("|---|---|---|---|---|---|---|")
    for category, result in scores.items():
        print(
            f"| `{category}` | {result.expected} | {result.found} | {result.recall:.3f} "
            f"| {result.predicted} | {result.right} | {result.precision:.3f} |"
        )
    for utterance in utterances:  # warm caches (phone metadata) before timing
        everything.redact(utterance.text, utterance.prompt)
    times = sorted(_best_us(everything, u, args.repeats) for u in utterances)
    p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
    print(
        f"\nper utterance, all categories: mean {statistics.fmean(times):.0f} us, "
        f"median {statistics.median(times):.0f} us, p99 {p99:.0f} us, max {times[-1]:.0f} us"
    )
    for category in ("credit_card", "email", "phone_number"):
        single = Redactor([category])
        mean = statistics.fmean(_best_us(single, u, args.repeats) for u in utterances)
        print(f"per utterance, {category} only: mean {mean:.0f} us")


if __name__ == "__main__":
    main()
