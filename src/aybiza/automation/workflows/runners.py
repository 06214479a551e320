"""Workflow runners: what takes due runs and advances them. Two implement one interface:

- ``InProcessRunner`` (the embedded default): advances runs in the server process itself. On
  start it picks up every unfinished run (a run a killed process held is taken over once its
  lease expires), then polls for due runs and schedules and is woken when runs are created.
- ``ArqRunner`` (``aybiza.automation.workflows.arq_runner``): enqueues due runs as arq jobs on
  Redis for worker processes on any machine.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

import structlog

from aybiza.automation.workflows.events import fire_schedules
from aybiza.automation.workflows.executor import WorkflowExecutor
from aybiza.background import BackgroundLoop
from aybiza.store.database import Database
from aybiza.store.models import utcnow

log = structlog.get_logger(__name__)


class WorkflowRunner(Protocol):
    """Runs workflow runs stored in the database."""

    async def start(self) -> None:
        """Begin taking due runs (and resume unfinished ones)."""

    def wake(self) -> None:
        """Runs were created (and committed): look now rather than at the next poll."""

    async def stop(self) -> None:
        """Stop taking runs; a run being advanced is left for the next process to resume."""


async def fire_due_schedules(database: Database) -> list[str]:
    """Start the runs of schedules that are due (each firing once across processes)."""
    async with database.writing() as session:
        return await fire_schedules(session)


class InProcessRunner:
    """Advances runs in this process, at most ``concurrency`` at once."""

    def __init__(
        self,
        database: Database,
        executor: WorkflowExecutor,
        *,
        poll_s: float = 1.0,
        concurrency: int = 8,
    ) -> None:
        self._database = database
        self._executor = executor
        self._poll_s = poll_s
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self._active: dict[str, asyncio.Task[None]] = {}
        # Sweeps every ``poll_s`` at the latest, sooner when a run falls due or ``wake()``.
        self.loop = BackgroundLoop("workflow-runner", self._sweep_step, interval_s=poll_s)

    async def start(self) -> None:
        """Begin: unfinished runs are due at once, so the first sweep resumes them."""
        self.loop.start()

    def wake(self) -> None:
        """Look for due runs now."""
        self.loop.wake()

    async def stop(self) -> None:
        """Stop; runs in progress are cancelled and released for whoever runs next."""
        await self.loop.stop()
        tasks = list(self._active.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def sweep(self) -> int:
        """Fire due schedules and start advancing every due run not already in hand; returns
        how many were started."""
        await fire_due_schedules(self._database)
        started = 0
        for run_id, _claims in await self._executor.due_runs():
            if run_id in self._active:
                continue
            self._active[run_id] = asyncio.create_task(self._advance(run_id), name=f"run-{run_id}")
            started += 1
        return started

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Sweep until nothing is due or in hand (runs waiting for a later time excepted)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            started = await self.sweep()
            if self._active:
                await asyncio.wait(list(self._active.values()), timeout=self._poll_s)
            elif not started:
                return
        raise TimeoutError(f"workflow runs still due after {timeout_s:g} s")

    async def _advance(self, run_id: str) -> None:
        try:
            async with self._slots:
                outcome = await self._executor.advance(run_id)
            if outcome.status == "waiting":
                self.wake()
        except Exception:
            log.exception("automation.run_failed", run=run_id)
        finally:
            self._active.pop(run_id, None)

    async def _sweep_step(self) -> float | None:
        await self.sweep()
        return await self._until_next_due()

    async def _until_next_due(self) -> float | None:
        """Seconds until the next run falls due within the poll; None: the next poll."""
        due_at = await self._executor.next_due_at()
        # Due now but not started: another process holds it; look again at the next poll.
        if due_at is None or due_at <= utcnow():
            return None
        wait_s = (due_at - utcnow()).total_seconds() + 0.005
        return wait_s if wait_s < self._poll_s else None
