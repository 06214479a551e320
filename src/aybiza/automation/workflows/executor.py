"""Advances workflow runs step by step, durably.

A process takes a run with a lease (``lease_owner``/``lease_until``, renewed while it works);
each attempt of a step is counted before it starts, and its completion is written together with
the run's new position in one transaction, only while the lease is still this process's. So:

- a step that completed is never run again (the position moved past it in the same commit);
- a step interrupted mid-attempt (the process was killed) is attempted again by whichever
  process takes the run once the lease has expired, with the same ``Idempotency-Key``, so the
  receiver can tell the repeat from a new request and the side effect happens once;
- a failed attempt is retried after ``backoff_s * 2**(attempt-1)`` plus jitter (the outbound
  sender's ``Retries``; the run waits in the database, due again at that time) until
  ``max_attempts``; delays wait the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from uuid import uuid4

import structlog
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.automation.workflows.spec import DelayStep, Step
from aybiza.automation.workflows.steps import (
    RunView,
    StepFailed,
    StepResult,
    StepServices,
    execute_step,
    next_position,
)
from aybiza.background import BackgroundLoop
from aybiza.outbound.sender import Retries
from aybiza.store.automation_models import WorkflowRun, WorkflowStep
from aybiza.store.database import Database
from aybiza.store.models import utcnow
from aybiza.timeouts import within

log = structlog.get_logger(__name__)
_STEPS = TypeAdapter(list[Step])
ACTIVE = ("pending", "running")


@dataclass(frozen=True, slots=True)
class Advanced:
    """What advancing did: ``completed``, ``failed``, ``waiting`` (due again at ``due_at``; the
    run had been claimed ``claims`` times) or ``busy`` (another process holds the run, or it
    is not due)."""

    status: str
    due_at: datetime | None = None
    claims: int = 0


def process_owner() -> str:
    """An owner id unique to this process (host, pid, random suffix)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid4().hex[:8]}"


class WorkflowExecutor:
    """Runs steps of runs stored in ``database``; safe to use from many processes at once."""

    def __init__(
        self,
        database: Database,
        services: StepServices,
        *,
        lease_s: float = 30.0,
        owner: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._database = database
        self._rng = rng if rng is not None else random.Random()
        self._services = services
        self._lease = timedelta(seconds=lease_s)
        self.owner = owner or process_owner()

    async def due_runs(self, limit: int = 50) -> list[tuple[str, int]]:
        """(id, claims) of runs that are due and that no live process holds."""
        now = utcnow()
        async with self._database.session() as session:
            rows = await session.execute(
                select(WorkflowRun.id, WorkflowRun.claims)
                .where(
                    WorkflowRun.status.in_(ACTIVE),
                    WorkflowRun.due_at <= now,
                    (WorkflowRun.lease_until.is_(None)) | (WorkflowRun.lease_until < now),
                )
                .order_by(WorkflowRun.due_at)
                .limit(limit)
            )
            return [(str(row[0]), int(row[1])) for row in rows]

    async def next_due_at(self) -> datetime | None:
        """When the earliest waiting run is due."""
        async with self._database.session() as session:
            rows = await session.execute(
                select(WorkflowRun.due_at)
                .where(WorkflowRun.status.in_(ACTIVE))
                .order_by(WorkflowRun.due_at)
                .limit(1)
            )
            return rows.scalar_one_or_none()

    async def advance(self, run_id: str) -> Advanced:
        """Take the run and run its steps until it completes, fails or has to wait."""
        if not await self._claim(run_id):
            return Advanced("busy")
        # Renew the lease while the steps run, so no other process takes the run meanwhile.
        renewal = BackgroundLoop(
            f"lease-{run_id}",
            partial(self._renew_lease, run_id),
            interval_s=max(self._lease.total_seconds() / 3, 0.05),
        )
        renewal.start()
        try:
            return await self._run_steps(run_id)
        finally:
            await renewal.stop()
            with contextlib.suppress(Exception):
                await asyncio.shield(self._release(run_id))

    async def _run_steps(self, run_id: str) -> Advanced:
        while True:
            async with self._database.session() as session:
                run = await session.get(WorkflowRun, run_id)
                if run is None or run.lease_owner != self.owner:
                    return Advanced("busy")
                rows = {
                    row.step_id: row
                    for row in (
                        await session.execute(
                            select(WorkflowStep).where(WorkflowStep.run_id == run_id)
                        )
                    ).scalars()
                }
            try:
                steps = _STEPS.validate_python(run.definition.get("steps", []))
            except ValidationError as exc:
                await self._finish(run_id, "failed", f"invalid definition: {exc}"[:2000])
                return Advanced("failed")
            if run.position >= len(steps):
                await self._finish(run_id, "completed", None)
                return Advanced("completed")
            step = steps[run.position]
            if isinstance(step, DelayStep):
                waited = await self._delay(run, step)
                if waited is not None:
                    return waited
                continue
            outcome = await self._attempt(run, steps, step, rows)
            if outcome is not None:
                return outcome

    async def _attempt(
        self,
        run: WorkflowRun,
        steps: list[Step],
        step: Step,
        rows: dict[str, WorkflowStep],
    ) -> Advanced | None:
        key = f"{run.id}:{step.id}"
        attempt = await self._begin(run, step, key)
        if attempt is None:
            return Advanced("busy")
        context = dict(run.context)
        context["run"] = {"id": run.id, "workflow": run.name, "trigger": run.trigger_event}
        context["steps"] = {
            step_id: row.output for step_id, row in rows.items() if row.status == "completed"
        }
        view = RunView(
            id=run.id,
            tenant_id=run.tenant_id,
            name=run.name,
            call_id=run.call_id,
            created_at=run.created_at,
            secret_sealed=run.definition.get("secret_sealed"),
        )
        started = time.monotonic()
        try:
            result = await within(
                execute_step(step, view, context, key, self._services), step.timeout_s + 5.0
            )
        except StepFailed as exc:
            return await self._failed(run.id, step, attempt, exc.message, exc.retryable)
        except TimeoutError:
            message = f"timed out after {step.timeout_s:g} s"
            return await self._failed(run.id, step, attempt, message, True)
        except Exception as exc:
            log.exception("automation.step_crashed", run=run.id, step=step.id)
            return await self._failed(run.id, step, attempt, f"{type(exc).__name__}: {exc}", True)
        position = next_position(steps, run.position, result.next)
        try:
            completed = await self._complete(run.id, step, result, position, started)
        except Exception as exc:  # e.g. the database refused the write: try the step again
            log.exception("automation.step_not_recorded", run=run.id, step=step.id)
            return await self._failed(run.id, step, attempt, f"not recorded: {exc}", True)
        return None if completed else Advanced("busy")

    async def _claim(self, run_id: str) -> bool:
        now = utcnow()
        async with self._database.writing() as session:
            result = await session.execute(
                update(WorkflowRun)
                .where(
                    WorkflowRun.id == run_id,
                    WorkflowRun.status.in_(ACTIVE),
                    WorkflowRun.due_at <= now,
                    (WorkflowRun.lease_until.is_(None)) | (WorkflowRun.lease_until < now),
                )
                .values(
                    lease_owner=self.owner,
                    lease_until=now + self._lease,
                    claims=WorkflowRun.claims + 1,
                    status="running",
                    updated_at=now,
                )
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def _renew_lease(self, run_id: str) -> None:
        async with self._database.writing() as session:
            await session.execute(
                update(WorkflowRun)
                .where(WorkflowRun.id == run_id, WorkflowRun.lease_owner == self.owner)
                .values(lease_until=utcnow() + self._lease)
            )

    async def _release(self, run_id: str) -> None:
        async with self._database.writing() as session:
            await session.execute(
                update(WorkflowRun)
                .where(WorkflowRun.id == run_id, WorkflowRun.lease_owner == self.owner)
                .values(
                    lease_owner=None,
                    lease_until=None,
                    status=_still_active(WorkflowRun.status),
                )
            )

    async def _locked(self, session: AsyncSession, run_id: str) -> WorkflowRun | None:
        """The run, locked for this transaction, if this process still holds it."""
        run = await session.get(WorkflowRun, run_id, with_for_update=True, populate_existing=True)
        return run if run is not None and run.lease_owner == self.owner else None

    async def _begin(self, run: WorkflowRun, step: Step, key: str) -> int | None:
        """Count the attempt before making it; None when the lease was lost."""
        async with self._database.writing() as session:
            if await self._locked(session, run.id) is None:
                return None
            row = await _step_row(session, run.id, step.id)
            if row is None:
                row = WorkflowStep(
                    tenant_id=run.tenant_id,
                    run_id=run.id,
                    step_id=step.id,
                    position=run.position,
                    type=step.type,
                    attempts=0,
                    idempotency_key=key,
                    request={},
                    output={},
                )
                session.add(row)
            row.attempts += 1
            row.status = "running"
            row.started_at = utcnow()
            row.error = None
            return row.attempts

    async def _complete(
        self, run_id: str, step: Step, result: StepResult, position: int, started: float
    ) -> bool:
        async with self._database.writing() as session:
            run = await self._locked(session, run_id)
            row = await _step_row(session, run_id, step.id)
            if run is None or row is None:
                return False
            now = utcnow()
            row.status, row.output, row.request = "completed", result.output, result.request
            row.finished_at = now
            row.duration_ms = round((time.monotonic() - started) * 1000, 1)
            run.position, run.updated_at = position, now
            if result.apply is not None:
                await result.apply(session)
            return True

    async def _failed(
        self, run_id: str, step: Step, attempt: int, message: str, retryable: bool
    ) -> Advanced:
        policy = step.retry
        again = retryable and attempt < policy.max_attempts
        retries = Retries(policy.max_attempts, policy.backoff_s, policy.max_backoff_s)
        delay = retries.delay_s(attempt, self._rng)
        async with self._database.writing() as session:
            run = await self._locked(session, run_id)
            row = await _step_row(session, run_id, step.id)
            if run is None or row is None:
                return Advanced("busy")
            now = utcnow()
            row.error = message[:2000]
            row.finished_at = now
            if again:
                row.status = "retrying"
                run.due_at = now + timedelta(seconds=delay)
            else:
                row.status = "failed"
                run.status, run.finished_at = "failed", now
                run.error = f"step {step.id} failed after {attempt} attempt(s): {message}"[:2000]
            run.updated_at = now
        log.info("automation.step_failed", run=run_id, step=step.id, attempt=attempt, retry=again)
        return Advanced("waiting", run.due_at, run.claims) if again else Advanced("failed")

    async def _delay(self, run: WorkflowRun, step: DelayStep) -> Advanced | None:
        """Start or finish a delay; a result means the run waits, None that it goes on."""
        now = utcnow()
        async with self._database.writing() as session:
            locked = await self._locked(session, run.id)
            if locked is None:
                return Advanced("busy")
            stored = await _step_row(session, run.id, step.id)
            if stored is None:
                until = now + timedelta(seconds=step.seconds)
                stored = WorkflowStep(
                    tenant_id=run.tenant_id,
                    run_id=run.id,
                    step_id=step.id,
                    position=run.position,
                    type="delay",
                    status="waiting",
                    attempts=1,
                    idempotency_key=f"{run.id}:{step.id}",
                    request={"seconds": step.seconds},
                    output={"until": until.isoformat()},
                    started_at=now,
                )
                session.add(stored)
            until = datetime.fromisoformat(str(stored.output["until"]))
            if now < until:
                locked.due_at = until
                return Advanced("waiting", until, locked.claims)
            stored.status, stored.finished_at = "completed", now
            stored.duration_ms = round((now - stored.started_at).total_seconds() * 1000, 1)
            locked.position += 1
            return None

    async def _finish(self, run_id: str, status: str, error: str | None) -> None:
        async with self._database.writing() as session:
            run = await self._locked(session, run_id)
            if run is not None:
                run.status, run.error, run.finished_at = status, error, utcnow()
                run.updated_at = utcnow()


def _still_active(column: Any) -> Any:
    """``running`` becomes ``pending`` when released; finished statuses stay."""
    return case((column == "running", "pending"), else_=column)


async def _step_row(session: AsyncSession, run_id: str, step_id: str) -> WorkflowStep | None:
    rows = await session.execute(
        select(WorkflowStep).where(WorkflowStep.run_id == run_id, WorkflowStep.step_id == step_id)
    )
    return rows.scalars().first()
