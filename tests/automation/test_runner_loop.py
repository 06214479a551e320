"""The in-process workflow runner polls on the platform's ``BackgroundLoop``: a sweep that fails
is counted and the runner keeps polling, so runs move again once the database answers; stopping
ends the loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from tests.automation.helpers import make_tenant
from tests.automation.workflow_helpers import automation, create_workflow, finished

from aybiza.automation.workflows.runners import InProcessRunner
from aybiza.security.secretbox import HmacSecretBox
from aybiza.store.database import Database
from aybiza.store.migrate import upgrade_to_head


async def _until(condition: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("not reached in time")
        await asyncio.sleep(0.02)


async def test_item5_a_failing_sweep_is_counted_and_the_runner_keeps_polling(
    tmp_path: Path, box: HmacSecretBox
) -> None:
    # No tables yet: every sweep fails until the migrations have run.
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'late.db'}")
    engine = automation(database, box)
    runner = engine.runner
    assert isinstance(runner, InProcessRunner)
    await engine.start()
    try:
        await _until(lambda: runner.loop.failures >= 2)
        assert runner.loop.running
        await upgrade_to_head(database)
        tenant = await make_tenant(database)
        workflow = await create_workflow(
            engine,
            tenant,
            {
                "name": "tick",
                "trigger": {"event": "schedule", "every_s": 1},
                "steps": [{"id": "wait", "type": "delay", "seconds": 0}],
            },
        )
        deadline = time.monotonic() + 10
        while not (
            runs := await engine.workflows.runs(tenant, workflow, cursor=None, limit=1)
        ).items:
            assert time.monotonic() < deadline, "the schedule never fired"
            await asyncio.sleep(0.05)
        run_id = runs.items[0].id
        assert (await finished(database, run_id)).status == "completed"
    finally:
        await engine.stop()
        await database.dispose()
    assert not runner.loop.running
