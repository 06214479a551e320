"""A scripted conversation: hear the greeting out, then each line, answer, line, answer...

The runner takes turns the way a polite caller does: it lets the agent finish before speaking,
times every answer, and stops early, without failing, when the agent hangs up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aybiza.simulator.errors import CallEndedError
from aybiza.simulator.scripted_call import ScriptedCall


@dataclass(frozen=True, slots=True)
class SayStep:
    """Speak ``audio`` (μ-law 8 kHz); ``label`` is what the report shows for it."""

    label: str
    audio: bytes


@dataclass(frozen=True, slots=True)
class DtmfStep:
    """Press ``digits`` one after another (``0``-``9``, ``*``, ``#``)."""

    digits: str

    @property
    def label(self) -> str:
        """How the report shows the key presses."""
        return f"(keys {self.digits})"


ScriptStep = SayStep | DtmfStep


@dataclass(frozen=True, slots=True)
class ScriptTiming:
    """How patient the caller is.

    ``answer_timeout_s`` bounds each wait for the agent: to start answering, and once it speaks,
    to go quiet. ``quiet_ms`` of silence (with nothing left to play) means the agent finished.
    ``dtmf_gap_ms`` spaces key presses like a person's finger. ``hangup_grace_ms``: after the
    last step the caller stays on the line this long, as a person would, so an agent that ends
    the call itself (a goodbye, a transfer) is seen doing so.
    """

    answer_timeout_s: float = 30.0
    quiet_ms: int = 1200
    dtmf_gap_ms: int = 250
    hangup_grace_ms: int = 1000


@dataclass(slots=True)
class StepOutcome:
    """What happened at one step: the answer's voice-to-voice latency, or the problem."""

    label: str
    latency_s: float | None = None
    problem: str | None = None


@dataclass(slots=True)
class ScriptOutcome:
    """The conversation as the caller lived it."""

    greeting_latency_s: float | None = None
    greeting_note: str | None = None
    steps: list[StepOutcome] = field(default_factory=list)
    # Lines never said because the agent hung up first.
    unsaid: list[str] = field(default_factory=list)
    # Everything that makes the call a failure (no answer, abnormal close...).
    problems: list[str] = field(default_factory=list)


# Called with (message, done): ``done`` false while waiting, true once the step finished.
Progress = Callable[[str, bool], None]


def _quiet(message: str, done: bool) -> None:
    del message, done


async def run_script(
    call: ScriptedCall,
    steps: Sequence[ScriptStep],
    timing: ScriptTiming | None = None,
    progress: Progress = _quiet,
) -> ScriptOutcome:
    """Run ``steps`` on ``call`` and hang up at the end (unless the agent already did)."""
    timing = timing or ScriptTiming()
    outcome = ScriptOutcome()
    timeout = timing.answer_timeout_s
    progress("waiting for the greeting", False)
    try:
        outcome.greeting_latency_s = await call.wait_for_agent_audio(timeout)
        progress(f"greeting started after {outcome.greeting_latency_s * 1000:.0f} ms", True)
        await call.wait_until_agent_done(quiet_ms=timing.quiet_ms, timeout=timeout)
    except TimeoutError as exc:
        # An agent may have no greeting: worth saying, not a failure.
        outcome.greeting_note = f"greeting: {exc}"
        progress(outcome.greeting_note, True)
    except CallEndedError:
        outcome.greeting_note = "the agent ended the call before greeting"
    for step in steps:
        if call.ended:
            outcome.unsaid.append(step.label)
            continue
        outcome.steps.append(await _run_step(call, step, timing, progress))
    if not call.ended and timing.hangup_grace_ms > 0:
        with contextlib.suppress(TimeoutError):
            await call.wait_until_ended(timing.hangup_grace_ms / 1000)
    if call.closed_by_server:
        progress(f"the agent ended the call ({call.ending})", True)
        if call.end_problem is not None:
            outcome.problems.append(call.end_problem)
    else:
        await call.hangup()
        progress("hung up", True)
    outcome.problems.extend(f"{s.label}: {s.problem}" for s in outcome.steps if s.problem)
    return outcome


async def _run_step(
    call: ScriptedCall, step: ScriptStep, timing: ScriptTiming, progress: Progress
) -> StepOutcome:
    result = StepOutcome(step.label)
    try:
        progress(f"caller: {step.label}", False)
        if isinstance(step, SayStep):
            await call.say(step.audio)
        else:
            for position, digit in enumerate(step.digits):
                if position:
                    await asyncio.sleep(timing.dtmf_gap_ms / 1000)
                await call.send_dtmf(digit)
        progress(f"caller: {step.label} (waiting for the answer)", False)
        result.latency_s = await call.wait_for_agent_audio(timing.answer_timeout_s)
        progress(f"{step.label} → answered after {result.latency_s * 1000:.0f} ms", True)
        await call.wait_until_agent_done(quiet_ms=timing.quiet_ms, timeout=timing.answer_timeout_s)
    except TimeoutError as exc:
        result.problem = str(exc)
        progress(f"{step.label} → {exc}", True)
    except CallEndedError:
        # The agent hanging up after a line (a goodbye) is its decision, not a failure.
        progress(f"{step.label} → the agent ended the call", True)
    return result
