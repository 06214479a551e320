"""The ``aybiza`` command: run the server, place a simulated call, run an eval suite, migrate
the database, manage tenants and API keys."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Annotated, TypeVar

import typer
import uvicorn
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from aybiza.agents.demo import DEMO_PHONE_NUMBER
from aybiza.api.http_server import uvicorn_options
from aybiza.config import Settings, StartupRefused, check_startup
from aybiza.data_cli import data_app
from aybiza.errors import ServiceError
from aybiza.evals.command import eval_command
from aybiza.keys_cli import rotate
from aybiza.logging import configure_logging
from aybiza.people_cli import audit_app, users_app
from aybiza.security.master_keys import master_key_for
from aybiza.security.permissions import Permission
from aybiza.services.demo_person import DemoPerson, seed_demo_person
from aybiza.services.edge_events import EdgeEvents
from aybiza.services.seed import DemoKey, seed_demo
from aybiza.services.tenants import TenantService
from aybiza.simulator.command import call
from aybiza.store.database import Database
from aybiza.store.migrate import LegacyDatabaseError, upgrade_to_head
from aybiza.telephony.sip.listen import ListenAddress, parse_listen

T = TypeVar("T")

app = typer.Typer(help="AYBIZA: AI phone agents.", no_args_is_help=True, add_completion=False)
app.command("call")(call)
app.command("eval")(eval_command)
keys_app = typer.Typer(
    help="API keys (shown once, stored hashed); `rotate` rotates the master key of the "
    "encryption at rest.",
    no_args_is_help=True,
)
tenants_app = typer.Typer(help="Tenants and their concurrency limits.", no_args_is_help=True)
keys_app.command("rotate")(rotate)
app.add_typer(keys_app, name="keys")
app.add_typer(tenants_app, name="tenants")
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
app.add_typer(data_app, name="data")
err = Console(stderr=True)

# The edge events of the running command (``_run``): pushed before the command exits.
_EDGE: ContextVar[EdgeEvents] = ContextVar("edge_events")

TenantOption = Annotated[str, typer.Option("--tenant", help="Tenant name (created if missing).")]


def _run(work: Callable[[Database, Settings], Awaitable[T]]) -> T:
    """Migrate the configured database, then run ``work`` on it; errors end the command."""
    settings = Settings.from_env()

    async def main() -> T:
        database = Database(settings.database_url, master_key=master_key_for(settings))
        edge = EdgeEvents(settings.edge_event_urls, settings.edge_secret)
        _EDGE.set(edge)
        try:
            await upgrade_to_head(database)
            return await work(database, settings)
        finally:
            # Keys created or revoked here reach the edge before the command ends.
            await edge.aclose()
            await database.dispose()

    try:
        return asyncio.run(main())
    except (ServiceError, LegacyDatabaseError, ValueError) as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc


def _tenants(database: Database, settings: Settings) -> TenantService:
    return TenantService(
        database,
        default_max_concurrent_calls=settings.default_max_concurrent_calls,
        edge=_EDGE.get(None),
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    workers: Annotated[int, typer.Option(help="Processes sharing the port.")] = 1,
    sip_listen: Annotated[
        str | None,
        typer.Option(
            "--sip-listen",
            help="SIP listeners, e.g. udp:0.0.0.0:5060,tcp:0.0.0.0:5060 ('' turns SIP off; "
            "default AYBIZA_SIP_LISTEN, else udp and tcp on 127.0.0.1:5060).",
        ),
    ] = None,
) -> None:
    """Run the platform: Twilio webhook and media streams, SIP, REST API, metrics."""
    if sip_listen is not None:
        os.environ["AYBIZA_SIP_LISTEN"] = sip_listen
    try:
        settings = Settings.from_env()
        check_startup(settings)
        sip = parse_listen(settings.sip_listen)
    except (StartupRefused, ValueError) as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    if sip and workers > 1:
        # Each SIP dialog lives in the process that answered it: one process owns SIP.
        err.print(
            "[yellow]warning:[/] SIP is off with --workers > 1 (a dialog must stay in one "
            "process): run a separate single-worker server for SIP"
        )
        os.environ["AYBIZA_SIP_LISTEN"] = ""
        sip = ()
    configure_logging(settings.log_level)

    async def prepare(database: Database, settings: Settings) -> tuple[DemoKey, DemoPerson | None]:
        key = await seed_demo(
            database,
            settings.data_dir,
            default_max_concurrent_calls=settings.default_max_concurrent_calls,
        )
        owner = None if settings.production else await seed_demo_person(database, settings.data_dir)
        return key, owner

    demo, demo_person = _run(prepare)
    operator = "\noperator   AYBIZA_API_KEY also works (demo tenant)" if settings.api_key else ""
    err.print(
        Panel.fit(
            f"[bold]AYBIZA[/] on http://{host}:{port}\n"
            f"{dashboard_lines(demo_person, f'http://{host}:{port}/', terminal=err.is_terminal)}"
            f"database   {settings.database_url}\n"
            f"demo agent {DEMO_PHONE_NUMBER} (ACME support flow, tenant 'demo')\n"
            f"{sip_lines(sip)}"
            f"{demo_key_lines(demo, terminal=err.is_terminal)}{operator}\n"
            f'try it     curl -H "Authorization: Bearer $(cat {demo.path})" '
            f"http://{host}:{port}/v1/calls\n"
            f'           .venv/bin/aybiza call --say "I would like to book an appointment" '
            f'--say "tomorrow morning"',
            title="ready",
        )
    )
    uvicorn.run(
        "aybiza.app:create_server_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level,
        loop="uvloop",
        **uvicorn_options(settings, in_process=False),
    )


def sip_lines(listeners: tuple[ListenAddress, ...]) -> str:
    """The banner's SIP lines: where SIP listens and the demo number's SIP URI."""
    if not listeners:
        return "sip        off (set AYBIZA_SIP_LISTEN to answer SIP)\n"
    first = listeners[0]
    host = f"[{first.host}]" if ":" in first.host else first.host
    shown = ", ".join(str(listener) for listener in listeners)
    return f"sip        {shown}\n           dial sip:{DEMO_PHONE_NUMBER}@{host}:{first.port}\n"


def dashboard_lines(person: DemoPerson | None, url: str, *, terminal: bool) -> str:
    """The banner's dashboard lines: where it is and the demo account to sign in with (its
    password only on a terminal, like the demo key)."""
    if person is None:
        return f"dashboard  {url}\n"
    if person.password is None:
        password = f"(set on an earlier start; {person.path} is gone)"
    elif terminal:
        password = person.password
    else:
        password = f"(not shown: output is not a terminal; see {person.path})"
    return f"dashboard  {url}\n           sign in as {person.email} / {password}\n"


def demo_key_lines(demo: DemoKey, *, terminal: bool) -> str:
    """The banner's demo-key lines. The key itself only on a terminal: where the output is
    not one (a service manager, a container, a file) it ends up in logs, so only its first
    characters and its file are shown there."""
    shown = (
        demo.secret if terminal else f"{demo.secret[:12]}… (not shown: output is not a terminal)"
    )
    return f"demo key   {shown}\n           (kept in {demo.path})"


@app.command()
def migrate() -> None:
    """Upgrade the database (AYBIZA_DATABASE_URL) to the newest schema."""

    async def nothing(database: Database, settings: Settings) -> str:
        return settings.database_url

    url = _run(nothing)
    err.print(f"{url} is at the newest schema")


@keys_app.command("create")
def create_key(
    tenant: TenantOption,
    scope: Annotated[
        list[Permission] | None,
        typer.Option("--scope", help="Repeat for several; default '*' (everything)."),
    ] = None,
    name: Annotated[str, typer.Option(help="A label to tell keys apart.")] = "",
) -> None:
    """Create a key (and the tenant if needed); the key is printed once, on stdout."""

    async def work(database: Database, settings: Settings) -> tuple[str, str, list[str]]:
        service = _tenants(database, settings)
        row = await service.ensure_tenant(tenant)
        scopes = [s.value for s in scope] if scope else [Permission.ALL.value]
        issued = await service.create_key(row.id, scopes, name=name)
        return issued.secret, issued.row.id, scopes

    secret, key_id, scopes = _run(work)
    err.print(f"key {key_id} for tenant {tenant!r}, scopes {' '.join(scopes)} (shown once):")
    typer.echo(secret)


@keys_app.command("list")
def list_keys(tenant: TenantOption) -> None:
    """The tenant's keys (their prefixes; keys themselves are never stored)."""

    async def work(database: Database, settings: Settings) -> list[tuple[str, ...]]:
        service = _tenants(database, settings)
        row = await service.find(tenant)
        rows: list[tuple[str, ...]] = []
        cursor: str | None = None
        while True:
            page = await service.list_keys(row.id, cursor=cursor, limit=100)
            rows += [
                (
                    k.id,
                    k.prefix + "…",
                    " ".join(k.scopes),
                    k.name,
                    "revoked" if k.revoked_at else "",
                )
                for k in page.items
            ]
            if (cursor := page.next_cursor) is None:
                return rows

    table = Table("id", "prefix", "scopes", "name", "state")
    for row in _run(work):
        table.add_row(*row)
    Console().print(table)


@keys_app.command("revoke")
def revoke_key(
    tenant: TenantOption,
    key: Annotated[str, typer.Argument(help="The key's id or its prefix (as listed).")],
) -> None:
    """Revoke a key: it is refused from the next request on."""

    async def work(database: Database, settings: Settings) -> int:
        return await _tenants(database, settings).revoke_by_prefix(tenant, key.rstrip("…"))

    count = _run(work)
    err.print(f"revoked {count} key{'s' if count != 1 else ''}")
    if count == 0:
        raise typer.Exit(1)


@tenants_app.command("set")
def set_tenant(
    tenant: Annotated[str, typer.Argument(help="Tenant name (created if missing).")],
    max_concurrent_calls: Annotated[
        int | None, typer.Option(help="Calls the tenant may have at once.")
    ] = None,
) -> None:
    """Create a tenant or change its concurrency limit."""

    async def work(database: Database, settings: Settings) -> int:
        service = _tenants(database, settings)
        row = await service.ensure_tenant(tenant, max_concurrent_calls=max_concurrent_calls)
        return row.max_concurrent_calls

    limit = _run(work)
    err.print(f"tenant {tenant!r}: max_concurrent_calls={limit}")


@tenants_app.command("list")
def list_tenants() -> None:
    """Every tenant with its concurrency limit."""

    async def work(database: Database, settings: Settings) -> list[tuple[str, str, str]]:
        tenants = await _tenants(database, settings).tenants()
        return [(t.id, t.name, str(t.max_concurrent_calls)) for t in tenants]

    table = Table("id", "name", "max concurrent calls")
    for row in _run(work):
        table.add_row(*row)
    Console().print(table)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def worker(ctx: typer.Context) -> None:
    """Run workflow steps (post-call analysis, HTTP steps, webhooks) on the job engine, for
    deployments where the API servers should not run them (see docs/automation.md)."""
    from aybiza.automation.workflows.worker import main as worker_main

    worker_main(list(ctx.args))


def main() -> None:
    """Entry point of the ``aybiza`` script."""
    app()
