"""``aybiza data``: a tenant's data policy at the terminal: retention days, compliance mode,
the data export, erasing a caller, and a retention sweep run now. The operator acts as the
owner would (actor ``cli:<login>`` in the audit log)."""

from __future__ import annotations

import asyncio
import getpass
import json
import re
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from aybiza.config import Settings
from aybiza.errors import ServiceError, invalid
from aybiza.security.caller_digest import caller_digest
from aybiza.security.master_keys import master_key_for
from aybiza.security.secretbox import load_master_key
from aybiza.services.audit import AuditLog
from aybiza.services.caller_erasure import CallerErasure
from aybiza.services.data_policy import DataPolicies, DataPolicy
from aybiza.services.retention import RetentionSweep
from aybiza.services.tenant_export import TenantExport
from aybiza.services.tenants import TenantService
from aybiza.store.audit_log import Actor, acting
from aybiza.store.database import Database
from aybiza.store.migrate import LegacyDatabaseError, upgrade_to_head
from aybiza.store.recording_files import RecordingStore, recording_store

T = TypeVar("T")
data_app = typer.Typer(
    help="A tenant's data: retention, compliance mode, export, caller erasure.",
    no_args_is_help=True,
)
err = Console(stderr=True)
TenantName = Annotated[str, typer.Option("--tenant", help="Tenant name.")]
Days = Annotated[
    int | None, typer.Option(min=0, help="Days to keep; 0 keeps for good; unset: unchanged.")
]
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def _run(tenant: str | None, work: Callable[[Database, Settings, str], Awaitable[T]]) -> T:
    """Migrate the configured database, then run ``work`` for the tenant as the CLI's actor;
    service errors end the command with status 2."""
    settings = Settings.from_env()

    async def main() -> T:
        # Sealed columns (numbers, transcripts) are read and searched with the field keys.
        database = Database(settings.database_url, master_key=master_key_for(settings))
        try:
            await upgrade_to_head(database)
            tenant_id = (await TenantService(database).find(tenant)).id if tenant else ""
            actor = Actor("cli", f"cli:{getpass.getuser()}", role="*", tenant_id=tenant_id or None)
            with acting(actor):
                return await work(database, settings, tenant_id)
        finally:
            await database.dispose()

    try:
        return asyncio.run(main())
    except (ServiceError, LegacyDatabaseError, ValueError) as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc


def _recordings(settings: Settings) -> RecordingStore:
    """Where the server keeps call recordings (``AYBIZA_RECORDINGS_URL``)."""
    return recording_store(
        settings.recordings_url,
        settings.data_dir,
        region=settings.aws_region or "us-east-1",
        endpoint_url=settings.recordings_endpoint_url,
    )


def _show(policy: DataPolicy) -> None:
    def days(value: int | None) -> str:
        return "for good" if value is None else f"{value} days"

    print(f"compliance mode  {policy.compliance_mode}")
    print(f"transcripts      {days(policy.transcripts_days)}")
    print(f"events           {days(policy.events_days)}")
    print(f"recordings       {days(policy.recordings_days)}")


@data_app.command("retention")
def retention(
    tenant: TenantName,
    transcripts_days: Days = None,
    events_days: Days = None,
    recordings_days: Days = None,
) -> None:
    """Show the tenant's retention, or change it (``--transcripts-days 30``; 0: for good)."""

    async def work(database: Database, _settings: Settings, tenant_id: str) -> DataPolicy:
        policies = DataPolicies(database)
        current = await policies.get(tenant_id)
        if transcripts_days is None and events_days is None and recordings_days is None:
            return current

        def pick(given: int | None, kept: int | None) -> int | None:
            return kept if given is None else (given or None)

        return await policies.set_retention(
            tenant_id,
            transcripts_days=pick(transcripts_days, current.transcripts_days),
            events_days=pick(events_days, current.events_days),
            recordings_days=pick(recordings_days, current.recordings_days),
        )

    _show(_run(tenant, work))


@data_app.command("compliance")
def compliance(
    tenant: TenantName,
    mode: Annotated[str, typer.Argument(help="none, hipaa or pci.")],
) -> None:
    """Put the tenant under a compliance mode."""

    async def work(database: Database, _settings: Settings, tenant_id: str) -> DataPolicy:
        return await DataPolicies(database).set_compliance_mode(tenant_id, mode)

    _show(_run(tenant, work))


@data_app.command("export")
def export(tenant: TenantName) -> None:
    """Everything the tenant owns as JSON lines on stdout (the API's ``/v1/tenant/export``)."""

    async def work(database: Database, _settings: Settings, tenant_id: str) -> int:
        audit = AuditLog(database)
        await audit.record("tenant.exported", tenant_id=tenant_id, target_type="tenant")
        count = 0
        async for line in TenantExport(database, audit).lines(tenant_id):
            sys.stdout.write(line)
            count += 1
        return count

    err.print(f"{_run(tenant, work)} lines")


@data_app.command("erase-caller")
def erase_caller(
    tenant: TenantName,
    number: Annotated[str, typer.Argument(help="The caller's number, E.164 (+14155550123).")],
) -> None:
    """Erase everything the tenant stores about one caller; prints the counts per kind."""
    if not E164.match(number):
        err.print(f"[red]error:[/] {invalid('number', 'must be E.164 (+14155550123)')}")
        raise typer.Exit(2)

    async def work(database: Database, settings: Settings, tenant_id: str) -> dict[str, object]:
        key = load_master_key(settings.secret_key, settings.data_dir)
        erasure = CallerErasure(database, lambda n: caller_digest(key, n), _recordings(settings))
        done = await erasure.erase(tenant_id, number)
        return {"caller_digest": done.caller_digest, "erased": done.erased}

    print(json.dumps(_run(tenant, work), indent=2))


@data_app.command("sweep")
def sweep() -> None:
    """Run the retention sweep now, to the end (the server runs it every
    ``AYBIZA_RETENTION_SWEEP_S``)."""

    async def work(database: Database, settings: Settings, _tenant: str) -> dict[str, int]:
        sweeper, totals = RetentionSweep(database, _recordings(settings)), dict[str, int]()
        while True:
            report = await sweeper.sweep()
            for counts in report.deleted.values():
                for kind, count in counts.items():
                    totals[kind] = totals.get(kind, 0) + count
            if not report.more:
                return totals

    print(json.dumps(_run(None, work), indent=2, sort_keys=True))
