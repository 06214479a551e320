"""Settings of the automation engine, read from the environment (``AYBIZA_*``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

RunnerKind = Literal["inprocess", "arq"]


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


@dataclass(frozen=True, slots=True)
class AutomationSettings:
    """Knobs with their defaults; units in the names.

    ``workflow_runner``: ``inprocess`` (default: runs in the server process) or ``arq``
    (workers on Redis: ``python -m aybiza.automation.workflows.worker --runner arq``);
    ``redis_url`` and ``workflow_queue`` locate the arq queue. ``workflow_lease_s``: how long a
    process owns a run without renewing it (a killed worker's run is taken over after this).
    ``workflow_poll_s``: how often runners look for due runs and schedules.
    ``workflow_concurrency``: runs advanced at once per process.
    """

    workflow_runner: RunnerKind = "inprocess"
    redis_url: str = "redis://127.0.0.1:6379/0"
    workflow_queue: str = "aybiza:workflows"
    workflow_lease_s: float = 30.0
    workflow_poll_s: float = 1.0
    workflow_concurrency: int = 8

    @classmethod
    def from_env(cls) -> AutomationSettings:
        """Read ``AYBIZA_WORKFLOW_RUNNER``, ``AYBIZA_REDIS_URL``, ``AYBIZA_WORKFLOW_QUEUE``,
        ``AYBIZA_WORKFLOW_LEASE_S``, ``AYBIZA_WORKFLOW_POLL_S`` and
        ``AYBIZA_WORKFLOW_CONCURRENCY``. (Which addresses tools and steps may reach is the
        process's ``AYBIZA_OUTBOUND_ALLOW_CIDRS``, in ``aybiza.config``.)"""
        runner = (_env("AYBIZA_WORKFLOW_RUNNER") or "inprocess").lower()
        if runner not in ("inprocess", "arq"):
            raise ValueError(f"AYBIZA_WORKFLOW_RUNNER must be 'inprocess' or 'arq', got {runner!r}")
        defaults = cls()
        return cls(
            workflow_runner="arq" if runner == "arq" else "inprocess",
            redis_url=_env("AYBIZA_REDIS_URL") or defaults.redis_url,
            workflow_queue=_env("AYBIZA_WORKFLOW_QUEUE") or defaults.workflow_queue,
            workflow_lease_s=float(_env("AYBIZA_WORKFLOW_LEASE_S") or defaults.workflow_lease_s),
            workflow_poll_s=float(_env("AYBIZA_WORKFLOW_POLL_S") or defaults.workflow_poll_s),
            workflow_concurrency=int(
                _env("AYBIZA_WORKFLOW_CONCURRENCY") or defaults.workflow_concurrency
            ),
        )
