"""The setups the capacity benchmark measures, and the N it measures each at."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from bench.loadgen import Carrier
from bench.stack import LlmKind, ServerKind

STAGGERED, IN_STEP = 10, 1  # frame offsets of the callers (bench.loadgen --phases)
# How the callers arrive (``bench.arrivals``): N ramped over a few seconds, or Poisson
# arrivals at N / POISSON_MEAN_CALL_S calls a second (N calls up on average) for
# POISSON_WINDOW_S seconds.
Arrivals = Literal["ramp", "poisson"]
POISSON_MEAN_CALL_S = 30.0
POISSON_WINDOW_S = 120.0


@dataclass(frozen=True, slots=True)
class Setup:
    """What one measured setup runs: the server under test, how the callers reach it, the
    model engine, how the callers' frames are spread over the 20 ms frame, how many worker
    processes (``aybiza serve --workers``, one core each) and how the callers arrive."""

    server: ServerKind
    carrier: Carrier
    llm: LlmKind
    phases: int = STAGGERED
    workers: int = 1
    arrivals: Arrivals = "ramp"


@dataclass(frozen=True, slots=True)
class Cores:
    """Where a run's processes go: the server on its own cores (one per worker), the fakes and
    the load generator on the others; ``shared`` when the machine has none left over (they
    then share the server's, and the figure is not a per-core one)."""

    server: str
    fakes: str
    generator: set[int] | None
    shared: bool


def cores_for(workers: int, cpu_count: int | None = None) -> Cores:
    """The cores of a run of ``workers`` server processes on this machine."""
    count = cpu_count if cpu_count is not None else (os.cpu_count() or 1)
    server = "0" if workers == 1 else f"0-{workers - 1}"
    rest = list(range(workers, count))
    if not rest:
        every = f"0-{count - 1}" if count > 1 else "0"
        server = every if workers > 1 else server
        return Cores(server=server, fakes=every, generator=None, shared=True)
    return Cores(server=server, fakes=",".join(map(str, rest)), generator=set(rest), shared=False)


SETUPS: dict[str, Setup] = {
    "aybiza": Setup("aybiza", "twilio", "bedrock"),
    "aybiza-step": Setup("aybiza", "twilio", "bedrock", IN_STEP),
    "aybiza-openai": Setup("aybiza", "twilio", "openai"),
    "aybiza-sip": Setup("aybiza", "sip", "bedrock"),
    "aybiza-2w": Setup("aybiza", "twilio", "bedrock", workers=2),
    "aybiza-poisson": Setup("aybiza", "twilio", "bedrock", arrivals="poisson"),
    "pipecat": Setup("pipecat", "twilio", "openai"),
    "pipecat-noturn": Setup("pipecat-noturn", "twilio", "openai"),
}
_AYBIZA_STEPS = (1, 10, 50, 100, 150, 200, 250, 300, 400, 500)
FULL_STEPS: dict[str, tuple[int, ...]] = {
    "aybiza": _AYBIZA_STEPS,
    "aybiza-step": _AYBIZA_STEPS,
    "aybiza-openai": _AYBIZA_STEPS,
    "aybiza-sip": _AYBIZA_STEPS,
    "pipecat": (1, 2, 3, 5, 10),
    "pipecat-noturn": (1, 2, 3, 5, 10),
}
SHORT_STEPS: dict[str, tuple[int, ...]] = {
    "aybiza": (1, 150),
    "aybiza-step": (1, 150),
    "aybiza-openai": (1, 150),
    "aybiza-sip": (1, 150),
    "pipecat": (1, 2, 3),
}
