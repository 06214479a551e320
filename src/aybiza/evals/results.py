"""What an eval run found: each check, each scenario, the suite."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from aybiza.simulator.call_record import CallRecord

Status = Literal["passed", "failed", "skipped"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One assertion of a scenario: ``check`` names it as the spec does (``said[1]``,
    ``tools[0]``, ``ended_reason``...), ``detail`` says what was found."""

    check: str
    passed: bool
    detail: str

    def __str__(self) -> str:
        return f"{self.check}: {self.detail}"


@dataclass(frozen=True, slots=True)
class Observation:
    """What a scenario's call showed: the server's record, and per caller step the latency
    the caller heard (ms from the end of their speech or key press to the agent's first
    audio; None where the agent did not answer), and what went wrong on the line."""

    call_sid: str
    record: CallRecord
    latencies_ms: list[float | None] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    protocol_errors: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ScenarioResult:
    """A scenario's outcome: ``passed`` when every check passed, ``skipped`` when it could not
    run here (``skipped_reason``), ``failed`` otherwise (failed checks or ``errors``)."""

    name: str
    status: Status
    call_sid: str | None = None
    checks: list[CheckResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped_reason: str | None = None
    duration_s: float = 0.0
    # (speaker, text) as the call record's transcript has them.
    transcript: list[tuple[str, str]] = field(default_factory=list)
    latencies_ms: list[float | None] = field(default_factory=list)
    engines: dict[str, str] = field(default_factory=dict)
    # The agent and version that answered, as the call record says.
    agent_id: str | None = None
    agent_version: str | None = None

    @property
    def failures(self) -> list[str]:
        """Every reason the scenario failed, in words."""
        return self.errors + [str(c) for c in self.checks if not c.passed]


@dataclass(slots=True)
class SuiteResult:
    """A whole run: the suite's name and digest, where it ran, every scenario."""

    name: str
    digest: str
    target: str
    scenarios: list[ScenarioResult] = field(default_factory=list)
    duration_s: float = 0.0
    agent_id: str | None = None
    agent_version: str | None = None

    def count(self, status: Status) -> int:
        """Scenarios with ``status``."""
        return sum(1 for s in self.scenarios if s.status == status)

    @property
    def failed(self) -> bool:
        """Whether any scenario failed (skipped ones do not fail a run)."""
        return self.count("failed") > 0
