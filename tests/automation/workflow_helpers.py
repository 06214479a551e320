"""Running workflows in tests: an ``Automation`` with short leases and polls, runs started by
real events, and waiting for a run to finish."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import select
from tests.fakes.loopback import LOOPBACK_NETWORKS, LoopbackOnlyNetwork

from aybiza.automation.platform import Automation
from aybiza.automation.settings import AutomationSettings
from aybiza.automation.workflows.spec import WorkflowCreate
from aybiza.config import Settings
from aybiza.security.secretbox import SecretBox
from aybiza.store.automation_models import WorkflowRun, WorkflowStep
from aybiza.store.database import Database

FAST = AutomationSettings(workflow_lease_s=2.0, workflow_poll_s=0.05)
# Steps may reach the tests' local receivers, and their sockets can reach nothing else.
LOOPBACK_ALLOWED = Settings(outbound_allow_cidrs=LOOPBACK_NETWORKS)


def automation(database: Database, box: SecretBox, **kwargs: Any) -> Automation:
    return Automation(
        database,
        box,
        settings=LOOPBACK_ALLOWED,
        automation=FAST,
        network=LoopbackOnlyNetwork(),
        **kwargs,
    )


async def create_workflow(engine: Automation, tenant_id: str, spec: dict[str, Any]) -> str:
    made = await engine.workflows.create(tenant_id, WorkflowCreate.model_validate(spec))
    return made.workflow.id


async def call_ended(engine: Automation, call_id: str) -> list[str]:
    async with engine.database.writing() as session:
        runs = await engine.call_ended(session, call_id)
    engine.wake()
    return runs


async def finished(database: Database, run_id: str, timeout_s: float = 20.0) -> WorkflowRun:
    """The run once it completed or failed."""
    deadline = time.monotonic() + timeout_s
    while True:
        async with database.session() as session:
            run = await session.get(WorkflowRun, run_id)
        if run is not None and run.status in ("completed", "failed"):
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} still {run.status if run else 'missing'}")
        await asyncio.sleep(0.05)


async def steps_of(database: Database, run_id: str) -> dict[str, WorkflowStep]:
    async with database.session() as session:
        rows = await session.execute(select(WorkflowStep).where(WorkflowStep.run_id == run_id))
        return {row.step_id: row for row in rows.scalars()}
