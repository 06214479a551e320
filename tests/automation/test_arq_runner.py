"""The arq runner: the server process enqueues due runs on Redis under ids that make a second
enqueue a no-op, and an arq worker advances them."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from arq import create_pool
from arq.connections import RedisSettings
from redis.asyncio import Redis
from tests.automation.helpers import REDIS_URL, make_agent, make_call, make_tenant, redis_reachable
from tests.automation.receiver import Receiver
from tests.automation.workflow_helpers import FAST, LOOPBACK_ALLOWED, call_ended, finished
from tests.fakes.loopback import LoopbackOnlyNetwork

from aybiza.automation.platform import Automation
from aybiza.automation.settings import AutomationSettings
from aybiza.automation.workflows.arq_runner import build_worker, enqueue, job_id
from aybiza.automation.workflows.spec import WorkflowCreate
from aybiza.security.secretbox import HmacSecretBox
from aybiza.store.database import Database

pytestmark = pytest.mark.skipif(not redis_reachable(), reason="no Redis on 6379")


async def test_the_server_enqueues_runs_once_and_an_arq_worker_completes_them(
    database: Database, box: HmacSecretBox, receiver: Receiver, queue: str
) -> None:
    options = AutomationSettings(
        workflow_runner="arq",
        redis_url=REDIS_URL,
        workflow_queue=queue,
        workflow_lease_s=FAST.workflow_lease_s,
        workflow_poll_s=0.1,
    )
    server = Automation(
        database,
        box,
        settings=LOOPBACK_ALLOWED,
        automation=options,
        network=LoopbackOnlyNetwork(),
    )
    tenant = await make_tenant(database)
    await server.workflows.create(
        tenant,
        WorkflowCreate.model_validate(
            {
                "name": "ping",
                "trigger": {"event": "call.ended"},
                "steps": [
                    {"id": "ping", "type": "http", "url": receiver.url("/ping"), "sign": False}
                ],
            }
        ),
    )
    version = await make_agent(database, tenant, {"name": "A", "system_prompt": "Hi."})
    [run_id] = await call_ended(server, await make_call(database, tenant, version))
    redis = Redis.from_url(REDIS_URL)
    await server.start()
    worker = None
    try:
        for _ in range(100):
            if await redis.zscore(queue, job_id(queue, run_id, 0)) is not None:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the run was not enqueued")
        pool = await create_pool(RedisSettings.from_dsn(REDIS_URL))
        assert not await enqueue(pool, queue, run_id, 0)  # already queued: a no-op
        await pool.aclose()
        worker = build_worker(
            database, server.executor, redis_url=REDIS_URL, queue=queue, handle_signals=False
        )
        task = asyncio.create_task(worker.async_run())
        run = await finished(database, run_id)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        if worker is not None:
            with contextlib.suppress(asyncio.CancelledError):  # jobs it was still finishing
                await worker.close()
        await server.stop()
        await redis.aclose()
    assert run.status == "completed" and run.claims == 1
    assert len(receiver.to("/ping")) == 1
