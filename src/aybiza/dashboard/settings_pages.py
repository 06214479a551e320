"""``/settings``: API keys (create, shown once; revoke), webhooks (add, each one's delivery log
with a "send again" button), people and roles (invite, change a role), the audit log. Every
change goes through the same service, with the same "no more than you hold" rules, as the
``/v1`` route that does it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from aybiza.api.auth import access
from aybiza.api.people import INVITATION_PAGE
from aybiza.dashboard.gate import PagePerson, page, page_for
from aybiza.errors import NotFound, ServiceError, invalid
from aybiza.security.permissions import Permission, Role
from aybiza.services.audit import AuditFilter
from aybiza.services.tenants import TenantService
from aybiza.services.webhooks import WebhookCreate, WebhookService

router = APIRouter(prefix="/settings", include_in_schema=False)

KeyAdmin = Annotated[PagePerson, Depends(page_for(Permission.KEYS_WRITE))]
HookAdmin = Annotated[PagePerson, Depends(page_for(Permission.WEBHOOKS_WRITE))]
PeopleReader = Annotated[PagePerson, Depends(page_for(Permission.PEOPLE_READ))]
PeopleWriter = Annotated[PagePerson, Depends(page_for(Permission.PEOPLE_WRITE))]
Auditor = Annotated[PagePerson, Depends(page_for(Permission.AUDIT_READ))]
Short = Annotated[str, Form(max_length=2000)]
EVENTS = ("call.started", "call.ended", "transcript.final", "security.alert")
SCOPES = [p.value for p in Permission]


@router.get("")
async def settings_page(request: Request, person: PeopleReader) -> HTMLResponse:
    """Links to the settings this person may use."""
    return page(request, "settings.html", person)


async def _keys(
    request: Request, person: PagePerson, *, new_key: str = "", error: str = "", status: int = 200
) -> HTMLResponse:
    tenants: TenantService = request.app.state.tenants
    keys = await tenants.list_keys(person.tenant_id, cursor=None, limit=100)
    return page(
        request,
        "settings_keys.html",
        person,
        status_code=status,
        keys=keys.items,
        scopes=SCOPES,
        new_key=new_key,
        error=error,
    )


@router.get("/keys")
async def keys_page(request: Request, person: KeyAdmin) -> HTMLResponse:
    """The tenant's API keys."""
    return await _keys(request, person)


@router.post("/keys", response_model=None)
async def create_key(request: Request, person: KeyAdmin) -> HTMLResponse:
    """A new key with the scopes ticked (never more than the person holds), shown once."""
    form = await request.form()
    scopes = [str(s) for s in form.getlist("scopes") if str(s) in SCOPES]
    name = str(form.get("name", ""))[:100]
    tenants: TenantService = request.app.state.tenants
    try:
        if not scopes:
            raise invalid("scopes", "at least one scope ticked", [])
        issued = await tenants.create_key(
            person.tenant_id, scopes, name=name, granted_by=person.principal.scopes
        )
    except ServiceError as exc:
        return await _keys(
            request, person, error=exc.message, status=403 if exc.code == "forbidden" else 422
        )
    return await _keys(request, person, new_key=issued.secret)


@router.post("/keys/{key_id}/revoke", response_model=None)
async def revoke_key(request: Request, person: KeyAdmin, key_id: str) -> Response:
    """Revoke a key."""
    tenants: TenantService = request.app.state.tenants
    try:
        await tenants.revoke_key(person.tenant_id, key_id, revoked_by=person.principal.scopes)
    except ServiceError as exc:
        return await _keys(request, person, error=exc.message, status=404)
    return RedirectResponse("/settings/keys", status_code=303)


def _hooks(request: Request) -> WebhookService:
    service: WebhookService = request.app.state.webhooks
    return service


async def _webhooks(
    request: Request, person: PagePerson, *, error: str = "", notice: str = "", status: int = 200
) -> HTMLResponse:
    service = _hooks(request)
    endpoints = await service.list(person.tenant_id, cursor=None, limit=50)
    logs = {}
    for endpoint in endpoints.items:
        found = await service.deliveries(person.tenant_id, endpoint.id, cursor=None, limit=20)
        logs[endpoint.id] = found.items
    return page(
        request,
        "settings_webhooks.html",
        person,
        status_code=status,
        endpoints=endpoints.items,
        deliveries=logs,
        events=EVENTS,
        error=error,
        notice=notice,
    )


@router.get("/webhooks")
async def webhooks_page(request: Request, person: HookAdmin) -> HTMLResponse:
    """The tenant's webhook endpoints and their delivery logs."""
    return await _webhooks(request, person)


@router.post("/webhooks", response_model=None)
async def add_webhook(request: Request, person: HookAdmin) -> Response:
    """A new endpoint (its secret is shown once)."""
    form = await request.form()
    body = {
        "url": str(form.get("url", "")),
        "events": [str(e) for e in form.getlist("events")],
        "description": str(form.get("description", "")),
    }
    try:
        created = await _hooks(request).create(person.tenant_id, WebhookCreate.model_validate(body))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return await _webhooks(request, person, error=f"{where}: {first['msg']}", status=422)
    except ServiceError as exc:
        return await _webhooks(request, person, error=exc.message, status=422)
    return await _webhooks(
        request, person, notice=f"Added. Its signing secret (shown once): {created.secret}"
    )


@router.post("/webhooks/{endpoint_id}/deliveries/{delivery_id}/send-again", response_model=None)
async def send_again(
    request: Request, person: HookAdmin, endpoint_id: str, delivery_id: str
) -> Response:
    """Queue a delivery again (``POST /v1/webhooks/{id}/deliveries/{id}/send-again``)."""
    try:
        row = await _hooks(request).send_again(person.tenant_id, endpoint_id, delivery_id)
    except NotFound as exc:
        return await _webhooks(request, person, error=exc.message, status=404)
    await access(request).audit.record(
        "webhook.delivery_resent",
        tenant_id=person.tenant_id,
        target_type="webhook_delivery",
        target_id=row.id,
        details={"webhook_id": endpoint_id, "event": row.event},
    )
    return RedirectResponse("/settings/webhooks", status_code=303)


async def _people(
    request: Request, person: PagePerson, *, link: str = "", error: str = "", status: int = 200
) -> HTMLResponse:
    services = access(request)
    members = await services.people.list(person.tenant_id, cursor=None, limit=200)
    invitations = await services.invitations.list(person.tenant_id, cursor=None, limit=50)
    return page(
        request,
        "settings_people.html",
        person,
        status_code=status,
        members=members.items,
        invitations=invitations.items,
        roles=[r.value for r in Role],
        link=link,
        error=error,
    )


@router.get("/people")
async def people_page(request: Request, person: PeopleReader) -> HTMLResponse:
    """The tenant's people, their roles and pending invitations."""
    return await _people(request, person)


@router.post("/people/invite", response_model=None)
async def invite(
    request: Request, person: PeopleWriter, email: Short, role: Annotated[str, Form(max_length=20)]
) -> Response:
    """Invite someone; the link is shown here outside production (there is no mail sender)."""
    try:
        invited = await access(request).invitations.invite(
            person.tenant_id,
            email,
            role,
            by=person.principal.scopes,
            invited_by=person.who.user.email,
        )
    except ServiceError as exc:
        return await _people(request, person, error=exc.message, status=422)
    link = ""
    if not request.app.state.settings.production:
        link = f"{str(request.base_url).rstrip('/')}{INVITATION_PAGE}?token={invited.token}"
    return await _people(request, person, link=link)


@router.post("/people/{user_id}/role", response_model=None)
async def change_role(
    request: Request, person: PeopleWriter, user_id: str, role: Annotated[str, Form(max_length=20)]
) -> Response:
    """Give a member another role (never one above your own)."""
    try:
        await access(request).people.change_role(
            person.tenant_id, user_id, role, by=person.principal.scopes
        )
    except ServiceError as exc:
        return await _people(request, person, error=exc.message, status=422)
    return RedirectResponse("/settings/people", status_code=303)


@router.get("/audit")
async def audit_page(request: Request, person: Auditor) -> HTMLResponse:
    """The tenant's latest audit events."""
    events = await access(request).audit.list(
        person.tenant_id, AuditFilter(), cursor=None, limit=100
    )
    return page(request, "settings_audit.html", person, events=events.items)
