"""Who may see a page: the person's session (cookie), in the state a page needs, holding the
permission the page needs (the same ``Permission`` table as the API). A request without a
session is sent to sign in; one still owing a second factor to ``/mfa``; one lacking the
permission gets a 403 page naming it. Forms that change something carry the CSRF token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from aybiza.api.auth import check_csrf, session_of
from aybiza.dashboard.rendering import render
from aybiza.errors import NotFound
from aybiza.security.permissions import Permission, grants
from aybiza.services.sessions import SessionState, SignedIn, memberships_of
from aybiza.services.tenants import Principal
from aybiza.store.models import Tenant


class PageRedirect(Exception):
    """Send the browser elsewhere (sign in first, pass the second factor)."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


class PageDenied(Exception):
    """The person's role lacks ``permission``."""

    def __init__(self, who: SignedIn, permission: Permission) -> None:
        super().__init__(permission.value)
        self.who = who
        self.permission = permission


@dataclass(frozen=True, slots=True)
class PagePerson:
    """The signed-in person a page is for, and the tenants they may switch to."""

    who: SignedIn
    tenants: list[tuple[Tenant, str]]

    @property
    def principal(self) -> Principal:
        """The caller as the services' permission and tenant rules see it."""
        return self.who.principal()

    @property
    def tenant_id(self) -> str:
        """The tenant every read and change of the page is scoped to."""
        return self.who.tenant.id

    def can(self, permission: Permission) -> bool:
        """Whether the person's role holds ``permission``."""
        return grants(self.principal.scopes, permission)


async def _person(request: Request) -> PagePerson:
    who = await session_of(request)
    if who is None:
        raise PageRedirect(f"/sign-in?next={quote(request.url.path, safe='/')}")
    if who.state is not SessionState.ACTIVE:
        raise PageRedirect("/mfa")
    await check_csrf(request, who)
    return PagePerson(who, await memberships_of(request.app.state.database, who.user.id))


def page_for(permission: Permission) -> Callable[..., Awaitable[PagePerson]]:
    """A dependency: the person, when their role holds ``permission``."""

    async def dependency(request: Request) -> PagePerson:
        person = await _person(request)
        if not person.can(permission):
            raise PageDenied(person.who, permission)
        return person

    return dependency


Reader = Annotated[PagePerson, Depends(page_for(Permission.CALLS_READ))]


def install_page_errors(app: FastAPI) -> None:
    """Redirects and denials as pages, not JSON."""

    @app.exception_handler(PageRedirect)
    async def redirect(_request: Request, exc: PageRedirect) -> Response:
        return RedirectResponse(exc.location, status_code=303)

    @app.exception_handler(PageDenied)
    async def denied(request: Request, exc: PageDenied) -> HTMLResponse:
        return render(
            request,
            "denied.html",
            exc.who,
            status_code=403,
            permission=exc.permission.value,
        )


def not_found(request: Request, person: PagePerson, error: NotFound) -> HTMLResponse:
    """The 404 page (another tenant's object looks the same as none)."""
    return page(request, "not_found.html", person, status_code=404, message=error.message)


def page(
    request: Request,
    template: str,
    person: PagePerson,
    *,
    status_code: int = 200,
    **context: object,
) -> HTMLResponse:
    """``template`` for ``person``, with the tenant switcher's tenants."""
    return render(
        request, template, person.who, status_code=status_code, tenants=person.tenants, **context
    )
