"""A workflow worker process: ``python -m aybiza.automation.workflows.worker [--runner arq]``.

It reads the server's environment (``AYBIZA_DATABASE_URL``, ``AYBIZA_SECRET_KEY`` or the data
directory's ``secret.key``, ``AYBIZA_REDIS_URL``, ``AYBIZA_WORKFLOW_*``, the engines' keys for
post-call analysis), migrates the database like every process, and advances runs until SIGTERM
or SIGINT: with ``--runner arq`` as an arq worker on Redis, with ``--runner inprocess`` by
polling the database itself (more processes advancing the same database's runs).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import Sequence

import structlog

from aybiza.automation.platform import Automation
from aybiza.automation.settings import AutomationSettings
from aybiza.automation.workflows.arq_runner import build_worker
from aybiza.config import Settings
from aybiza.logging import configure_logging
from aybiza.providers.registry import EngineRegistry
from aybiza.security.master_keys import master_key_for
from aybiza.security.secretbox import load_master_key, secret_box
from aybiza.store.database import Database
from aybiza.store.migrate import upgrade_to_head

log = structlog.get_logger(__name__)


async def run_worker(runner: str) -> None:
    """Advance workflow runs until the process is asked to stop."""
    settings = Settings.from_env()
    options = AutomationSettings.from_env()
    database = Database(settings.database_url, master_key=master_key_for(settings))
    await upgrade_to_head(database)
    box = secret_box(load_master_key(settings.secret_key, settings.data_dir))
    registry = EngineRegistry(settings)
    automation = Automation(database, box, settings=settings, automation=options, registry=registry)
    try:
        if runner == "arq":
            worker = build_worker(
                database,
                automation.executor,
                redis_url=options.redis_url,
                queue=options.workflow_queue,
                concurrency=options.workflow_concurrency,
                poll_s=options.workflow_poll_s,
            )
            log.info("automation.worker_started", runner="arq", queue=options.workflow_queue)
            with contextlib.suppress(asyncio.CancelledError):
                await worker.async_run()
            # Jobs cancelled by the shutdown signal surface here; their runs resume elsewhere.
            with contextlib.suppress(asyncio.CancelledError):
                await worker.close()
        else:
            stopping = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stopping.set)
            await automation.start()
            log.info("automation.worker_started", runner="inprocess")
            await stopping.wait()
    finally:
        await automation.stop()
        await registry.aclose()
        await database.dispose()


def main(argv: Sequence[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description="Advance AYBIZA workflow runs.")
    parser.add_argument(
        "--runner",
        choices=("arq", "inprocess"),
        default=None,
        help="arq (Redis) or inprocess (database polling); default: AYBIZA_WORKFLOW_RUNNER",
    )
    args = parser.parse_args(argv)
    configure_logging(Settings.from_env().log_level)
    runner = args.runner or AutomationSettings.from_env().workflow_runner
    asyncio.run(run_worker(runner))


if __name__ == "__main__":
    main()
