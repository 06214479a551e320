"""``aybiza keys rotate``: re-wrap every tenant's data key with a new master key."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from aybiza.config import Settings
from aybiza.security.key_rotation import Rotation, rotate_master_key
from aybiza.store.database import Database
from aybiza.store.migrate import upgrade_to_head

out = Console()


def rotate(
    kms_key_id: Annotated[
        str | None,
        typer.Option(
            "--kms-key-id",
            help="AWS KMS: re-encrypt the data keys to this key (default: AYBIZA_KMS_KEY_ID).",
        ),
    ] = None,
) -> None:
    """Rotate the master key: a new key file version (or KMS key), every tenant's data key
    re-wrapped by it. Sealed data is not re-encrypted; running servers keep working."""
    settings = Settings.from_env()
    with Progress(
        TextColumn("re-wrapping data keys"), BarColumn(), MofNCompleteColumn(), console=out
    ) as bar:
        task = bar.add_task("rewrap", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        async def main() -> Rotation:
            # The schema first: a database from before field encryption has no data keys yet.
            database = Database(settings.database_url)
            try:
                await upgrade_to_head(database)
            finally:
                await database.dispose()
            return await rotate_master_key(settings, kms_key_id=kms_key_id, progress=advance)

        done = asyncio.run(main())
    out.print(f"re-wrapped {done.rewrapped} data keys with master key {done.master_key_id}")
