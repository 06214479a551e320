"""``aybiza users`` and ``aybiza audit``: people and their roles, invitation links, lost second
factors, and the audit log's check and export, for the operator at the terminal (who holds
everything, like an owner). Each change is audited with the actor ``cli:<login>``."""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from aybiza.config import Settings
from aybiza.errors import ServiceError
from aybiza.security.permissions import Role
from aybiza.services.audit import AuditLog
from aybiza.services.invitations import Invitations
from aybiza.services.people import PeopleService
from aybiza.services.tenants import TenantService
from aybiza.store.audit_log import Actor, acting
from aybiza.store.database import Database
from aybiza.store.migrate import LegacyDatabaseError, upgrade_to_head

T = TypeVar("T")
users_app = typer.Typer(help="People, their roles and invitations.", no_args_is_help=True)
audit_app = typer.Typer(
    help="The audit log: verify its hash chains, export it.", no_args_is_help=True
)
err = Console(stderr=True)

TenantName = Annotated[str, typer.Option("--tenant", help="Tenant name.")]
Email = Annotated[str, typer.Argument(help="The person's email address.")]
INVITATION_PAGE = "/invitations/accept"


def _run(tenant: str | None, work: Callable[[Database, str | None], Awaitable[T]]) -> T:
    """Migrate the configured database, then run ``work`` (with the tenant's id) as the CLI's
    actor; service errors end the command with status 2."""
    settings = Settings.from_env()

    async def main() -> T:
        database = Database(settings.database_url)
        try:
            await upgrade_to_head(database)
            tenant_id = (await TenantService(database).find(tenant)).id if tenant else None
            actor = Actor("cli", f"cli:{getpass.getuser()}", role="*", tenant_id=tenant_id)
            with acting(actor):
                return await work(database, tenant_id)
        finally:
            await database.dispose()

    try:
        return asyncio.run(main())
    except (ServiceError, LegacyDatabaseError, ValueError) as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc


def _tenant(tenant_id: str | None) -> str:
    assert tenant_id is not None, "commands that act on people name a tenant"
    return tenant_id


@users_app.command("add")
def add(
    email: Email,
    tenant: TenantName,
    role: Annotated[Role, typer.Option(help="Their role in the tenant.")],
    name: Annotated[str, typer.Option(help="Their name.")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Add a person to a tenant with a role (created when new), with a password."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def work(database: Database, tenant_id: str | None) -> str:
        member = await PeopleService(database).add(
            _tenant(tenant_id), email, role.value, password=password, name=name
        )
        return member.user.id

    user_id = _run(tenant, work)
    err.print(f"{email} is {role.value} of {tenant!r} (user {user_id})")


@users_app.command("list")
def list_people(tenant: TenantName) -> None:
    """The tenant's people and their roles."""

    async def work(database: Database, tenant_id: str | None) -> list[tuple[str, ...]]:
        service = PeopleService(database)
        rows: list[tuple[str, ...]] = []
        cursor: str | None = None
        while True:
            page = await service.list(_tenant(tenant_id), cursor=cursor, limit=100)
            rows += [
                (
                    m.user.email,
                    m.user.name,
                    m.membership.role,
                    "yes" if m.user.mfa_enabled else "no",
                    m.user.id,
                )
                for m in page.items
            ]
            if (cursor := page.next_cursor) is None:
                return rows

    table = Table("email", "name", "role", "mfa", "id")
    for row in _run(tenant, work):
        table.add_row(*row)
    Console().print(table)


@users_app.command("role")
def change_role(email: Email, role: Annotated[Role, typer.Argument()], tenant: TenantName) -> None:
    """Give a person another role (the tenant keeps an owner)."""

    async def work(database: Database, tenant_id: str | None) -> None:
        service = PeopleService(database)
        member = await service.find(_tenant(tenant_id), email)
        await service.change_role(_tenant(tenant_id), member.user.id, role.value)

    _run(tenant, work)
    err.print(f"{email} is now {role.value} of {tenant!r}")


@users_app.command("remove")
def remove(email: Email, tenant: TenantName) -> None:
    """Take a person out of a tenant; their sessions there end."""

    async def work(database: Database, tenant_id: str | None) -> None:
        service = PeopleService(database)
        member = await service.find(_tenant(tenant_id), email)
        await service.remove(_tenant(tenant_id), member.user.id)

    _run(tenant, work)
    err.print(f"{email} left {tenant!r}")


@users_app.command("invite")
def invite(
    email: Email,
    tenant: TenantName,
    role: Annotated[Role, typer.Option(help="The role they get.")],
    base_url: Annotated[
        str | None, typer.Option(help="The platform's address (default AYBIZA_PUBLIC_URL).")
    ] = None,
) -> None:
    """Invite someone; the link is printed on stdout for you to hand over."""
    settings = Settings.from_env()
    base = (base_url or settings.public_url or "http://127.0.0.1:8080").rstrip("/")

    async def work(database: Database, tenant_id: str | None) -> str:
        invited = await Invitations(database, settings.access).invite(
            _tenant(tenant_id), email, role.value, invited_by=f"cli:{getpass.getuser()}"
        )
        return invited.token

    token = _run(tenant, work)
    err.print(f"invitation for {email} as {role.value} of {tenant!r}:")
    typer.echo(f"{base}{INVITATION_PAGE}?token={token}")


@users_app.command("reset-mfa")
def reset_mfa(email: Email) -> None:
    """Remove a person's second factors (a lost phone); their sessions end."""

    async def work(database: Database, _tenant_id: str | None) -> None:
        await PeopleService(database).reset_mfa(email)

    _run(None, work)
    err.print(f"{email} has no second factor now; they set one up at their next sign-in")


@audit_app.command("verify")
def verify(
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="Only this tenant's chain.")
    ] = None,
) -> None:
    """Check every hash chain; exit 1 naming each edited or deleted event."""

    async def work(database: Database, tenant_id: str | None) -> tuple[int, int, list[str]]:
        found = await AuditLog(database).verify(tenant_id)
        problems = [f"{p.chain} #{p.seq}: {p.kind}: {p.message}" for p in found.problems]
        return found.events, found.chains, problems

    events, chains, problems = _run(tenant, work)
    for problem in problems:
        err.print(f"[red]broken:[/] {problem}")
    if problems:
        err.print(f"{len(problems)} problem(s) in {chains} chain(s), {events} events")
        raise typer.Exit(1)
    err.print(f"ok: {events} events in {chains} chain(s), every link intact")


@audit_app.command("export")
def export(
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="The tenant (default: the platform's chain).")
    ] = None,
    after_seq: Annotated[int, typer.Option(help="Only events after this one.")] = 0,
) -> None:
    """The chain's events as JSON lines on stdout, oldest first (for a SIEM)."""

    async def work(database: Database, tenant_id: str | None) -> int:
        count = 0
        async for line in AuditLog(database).export(tenant_id, after_seq=after_seq):
            sys.stdout.write(line)
            count += 1
        return count

    count = _run(tenant, work)
    err.print(f"{count} events")
