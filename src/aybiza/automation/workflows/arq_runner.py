"""Workflows on arq (Redis) for deployments that span machines.

The database stays the source of truth (runs, steps, leases, outputs); arq only carries "advance
run R" jobs to worker processes on any machine and wakes them at the right time (delays and
retry backoff become deferred jobs). A job's id is ``<queue>:<run>:<claims>``: enqueuing the same
run twice before it is taken is a no-op, and once a worker took the run (``claims`` went up), a
run orphaned by a killed worker is enqueued again under a new id as soon as its lease expires,
rather than waiting for arq's own in-progress key of the killed job to time out.

- ``ArqRunner`` (in the API process): enqueues due runs and fires schedules.
- ``build_worker`` (``python -m aybiza.automation.workflows.worker --runner arq``): the arq
  ``Worker`` that advances runs, and sweeps too, so runs keep moving even when no API process
  is up.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from arq import ArqRedis, create_pool
from arq.connections import RedisSettings
from arq.worker import Worker, func

from aybiza.automation.workflows.executor import WorkflowExecutor
from aybiza.automation.workflows.runners import fire_due_schedules
from aybiza.background import BackgroundLoop
from aybiza.store.database import Database

JOB = "advance_run"
# Our leases recover from killed workers; arq's own job timeout only bounds one advance.
JOB_TIMEOUT_S = 3600


def job_id(queue: str, run_id: str, claims: int) -> str:
    """The arq job id for advancing ``run_id`` after it was claimed ``claims`` times."""
    return f"{queue}:{run_id}:{claims}"


async def enqueue(
    redis: ArqRedis, queue: str, run_id: str, claims: int, at: datetime | None = None
) -> bool:
    """Enqueue an advance of the run (deferred until ``at``); False when already queued."""
    job = await redis.enqueue_job(
        JOB,
        run_id,
        _job_id=job_id(queue, run_id, claims),
        _queue_name=queue,
        _defer_until=at,
    )
    return job is not None


async def sweep(database: Database, executor: WorkflowExecutor, redis: ArqRedis, queue: str) -> int:
    """Fire due schedules and enqueue every due run no live process holds."""
    await fire_due_schedules(database)
    queued = 0
    for run_id, claims in await executor.due_runs(limit=500):
        queued += await enqueue(redis, queue, run_id, claims)
    return queued


class ArqRunner:
    """The API process's side: enqueues due runs on Redis (workers advance them)."""

    def __init__(
        self,
        database: Database,
        executor: WorkflowExecutor,
        *,
        redis_url: str,
        queue: str,
        poll_s: float = 1.0,
    ) -> None:
        self._database = database
        self._executor = executor
        self._redis_url = redis_url
        self._queue = queue
        self._redis: ArqRedis | None = None
        self.loop = BackgroundLoop("workflow-enqueuer", self._enqueue_due, interval_s=poll_s)

    async def start(self) -> None:
        """Connect to Redis and begin sweeping."""
        if self._redis is None:
            self._redis = await create_pool(
                RedisSettings.from_dsn(self._redis_url), default_queue_name=self._queue
            )
        self.loop.start()

    def wake(self) -> None:
        """Enqueue new runs now."""
        self.loop.wake()

    async def stop(self) -> None:
        """Stop sweeping and close the connection."""
        await self.loop.stop()
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def _enqueue_due(self) -> None:
        assert self._redis is not None, "start() connects before the loop runs"
        await sweep(self._database, self._executor, self._redis, self._queue)


async def _advance_run(ctx: dict[str, Any], run_id: str) -> str:
    executor: WorkflowExecutor = ctx["executor"]
    outcome = await executor.advance(run_id)
    if outcome.status == "waiting" and outcome.due_at is not None:
        await enqueue(ctx["redis"], ctx["queue"], run_id, outcome.claims, outcome.due_at)
    return outcome.status


async def _sweep_due(ctx: dict[str, Any]) -> None:
    await sweep(ctx["database"], ctx["executor"], ctx["redis"], ctx["queue"])


def build_worker(
    database: Database,
    executor: WorkflowExecutor,
    *,
    redis_url: str,
    queue: str,
    concurrency: int = 8,
    poll_s: float = 1.0,
    handle_signals: bool = True,
) -> Worker:
    """An arq worker advancing runs from ``queue`` (create it inside the running loop)."""

    async def startup(ctx: dict[str, Any]) -> None:
        ctx.update(database=database, executor=executor, queue=queue)
        # Sweeps too, so runs keep moving (schedules fire, orphans are taken over) without an
        # API process.
        sweeper = BackgroundLoop("workflow-sweeper", partial(_sweep_due, ctx), interval_s=poll_s)
        ctx["sweeper"] = sweeper
        sweeper.start()

    async def shutdown(ctx: dict[str, Any]) -> None:
        sweeper: BackgroundLoop = ctx["sweeper"]
        await sweeper.stop()

    return Worker(
        functions=[func(_advance_run, name=JOB, keep_result=0, max_tries=1000)],
        redis_settings=RedisSettings.from_dsn(redis_url),
        queue_name=queue,
        on_startup=startup,
        on_shutdown=shutdown,
        max_jobs=concurrency,
        job_timeout=JOB_TIMEOUT_S,
        keep_result=0,
        poll_delay=min(poll_s, 0.5),
        handle_signals=handle_signals,
    )
