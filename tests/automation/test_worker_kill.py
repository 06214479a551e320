"""A workflow step survives its worker being killed mid-step: a real worker process
(``python -m aybiza.automation.workflows.worker``, in-process runner or arq on Redis) is killed
with SIGKILL while the step's request is in flight; a new worker takes the run over once the
lease expires, sends the step again with the same Idempotency-Key, and the receiver, counting
side effects by key, applies it exactly once. Steps completed before the kill never run again."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import sys
from pathlib import Path

import pytest
from tests.api.databases import ScratchDatabase
from tests.automation.helpers import (
    REDIS_URL,
    SECRET_KEY,
    make_agent,
    make_call,
    make_tenant,
    redis_reachable,
)
from tests.automation.receiver import Receiver
from tests.automation.workflow_helpers import automation, call_ended, finished, steps_of

from aybiza.automation.workflows.spec import WorkflowCreate
from aybiza.security.master_keys import KeyFileMasterKey
from aybiza.security.secretbox import HmacSecretBox
from aybiza.store.database import Database
from aybiza.store.migrate import upgrade_to_head

RUNNERS = [
    "inprocess",
    pytest.param("arq", marks=pytest.mark.skipif(not redis_reachable(), reason="no Redis on 6379")),
]


class WorkerProcess:
    """One ``aybiza`` workflow worker process."""

    def __init__(self, env: dict[str, str], runner: str, log: Path) -> None:
        self._env, self._runner, self._log = env, runner, log
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self._log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "aybiza.automation.workflows.worker",
                "--runner",
                self._runner,
                env=self._env,
                stdout=log,
                stderr=log,
            )

    async def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


@pytest.mark.parametrize("runner", RUNNERS)
async def test_a_worker_killed_mid_step_is_resumed_and_the_side_effect_happens_once(
    runner: str,
    scratch: ScratchDatabase,
    box: HmacSecretBox,
    receiver: Receiver,
    queue: str,
    tmp_path: Path,
) -> None:
    # The workers' master key (the key file in their data directory): they seal what they
    # write, and this process reads it.
    master = KeyFileMasterKey(tmp_path / "data" / "master.key")
    database = Database(scratch.url, master_key=master)
    await upgrade_to_head(database)
    engine = automation(database, box)  # only creates runs here; the workers run them
    env = {
        **os.environ,
        "AYBIZA_DATABASE_URL": scratch.url,
        "AYBIZA_DATA_DIR": str(tmp_path / "data"),
        "AYBIZA_SECRET_KEY": base64.urlsafe_b64encode(SECRET_KEY).decode(),
        "AYBIZA_OUTBOUND_ALLOW_CIDRS": "127.0.0.0/8,::1/128",
        "AYBIZA_WORKFLOW_LEASE_S": "1.5",
        "AYBIZA_WORKFLOW_POLL_S": "0.1",
        "AYBIZA_REDIS_URL": REDIS_URL,
        "AYBIZA_WORKFLOW_QUEUE": queue,
        "AYBIZA_LOG_LEVEL": "warning",
    }
    log = tmp_path / "worker.log"
    workers = [WorkerProcess(env, runner, log), WorkerProcess(env, runner, log)]
    try:
        tenant = await make_tenant(database)
        made = await engine.workflows.create(
            tenant,
            WorkflowCreate.model_validate(
                {
                    "name": "checkout",
                    "trigger": {"event": "call.ended"},
                    "steps": [
                        {"id": "reserve", "type": "http", "url": receiver.url("/reserve")},
                        {"id": "charge", "type": "http", "url": receiver.url("/charge")},
                        {"id": "receipt", "type": "webhook", "url": receiver.url("/receipt")},
                    ],
                }
            ),
        )
        receiver.secret = made.secret
        version = await make_agent(database, tenant, {"name": "Shop", "system_prompt": "Sell."})
        [run_id] = await call_ended(engine, await make_call(database, tenant, version))
        receiver.hold("/charge")

        await workers[0].start()
        try:
            await receiver.arrived("/charge", timeout_s=45)
        except TimeoutError:
            raise AssertionError(log.read_text()) from None
        await workers[0].kill()
        receiver.release("/charge")  # the first request now applies its effect: nobody hears it

        await workers[1].start()
        run = await finished(database, run_id, timeout_s=45)
        assert run.status == "completed", (run.error, log.read_text())
    finally:
        for worker in workers:
            await worker.stop()
        await engine.sender.aclose()

    charges = receiver.to("/charge")
    assert len(receiver.to("/reserve")) == 1  # completed before the kill: never again
    assert len(charges) == 2 and {c.key for c in charges} == {f"{run_id}:charge"}
    assert receiver.effects[f"{run_id}:charge"] == 1  # the side effect happened once
    assert len(receiver.to("/receipt")) == 1
    assert all(seen.signed for seen in receiver.seen)
    steps = await steps_of(database, run_id)
    assert {k: (s.status, s.attempts) for k, s in steps.items()} == {
        "reserve": ("completed", 1),
        "charge": ("completed", 2),
        "receipt": ("completed", 1),
    }
    assert run.claims == 2
    await database.dispose()
