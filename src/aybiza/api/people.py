"""``/v1/users``, ``/v1/invitations`` and ``/v1/tenant/security``: the tenant's people and
their roles, invitations by email link, and the owner's MFA requirement."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from aybiza.api.auth import access, require
from aybiza.api.common import DEFAULT_PAGE, Cursor, Limit, ListOf, listed
from aybiza.api.errors import error_responses
from aybiza.config import Settings
from aybiza.security.permissions import Permission, Role
from aybiza.services.invitations import Invitations
from aybiza.services.people import Member, PeopleService
from aybiza.services.tenants import Principal
from aybiza.store.people_models import Invitation

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/v1", tags=["people"])

Reader = Annotated[Principal, Depends(require(Permission.PEOPLE_READ))]
Writer = Annotated[Principal, Depends(require(Permission.PEOPLE_WRITE))]
Owner = Annotated[Principal, Depends(require(Permission.TENANT_WRITE))]
INVITATION_PAGE = "/invitations/accept"


class MemberOut(BaseModel):
    """A person of the tenant."""

    id: str = Field(description="The person's user id.")
    email: str
    name: str
    role: Role
    mfa_enabled: bool
    joined_at: datetime


class RoleChange(BaseModel):
    """The person's new role."""

    model_config = ConfigDict(extra="forbid")
    role: Role


class InvitationCreate(BaseModel):
    """Invite an email address to the tenant with a role."""

    model_config = ConfigDict(extra="forbid")
    email: str = Field(min_length=3, max_length=320, examples=["ada@example.com"])
    role: Role


class InvitationOut(BaseModel):
    """An invitation; ``link`` only in development and only to the inviter (production has
    no mail sender: the operator uses ``aybiza users invite``)."""

    id: str
    email: str
    role: Role
    invited_by: str
    created_at: datetime
    expires_at: datetime
    link: str | None = None


class SecuritySettings(BaseModel):
    """The tenant's security settings."""

    model_config = ConfigDict(extra="forbid")
    mfa_required: bool = Field(
        description="Every person must pass a second factor (TOTP or a passkey)."
    )


def _people(request: Request) -> PeopleService:
    service: PeopleService = access(request).people
    return service


def _member(member: Member) -> MemberOut:
    return MemberOut(
        id=member.user.id,
        email=member.user.email,
        name=member.user.name,
        role=Role(member.membership.role),
        mfa_enabled=member.user.mfa_enabled,
        joined_at=member.membership.created_at,
    )


def _invitation(row: Invitation, link: str | None = None) -> InvitationOut:
    return InvitationOut(
        id=row.id,
        email=row.email,
        role=Role(row.role),
        invited_by=row.invited_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        link=link,
    )


@router.get("/users", response_model=ListOf[MemberOut], responses=error_responses(400, 401, 403))
async def list_people(
    request: Request, principal: Reader, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE
) -> ListOf[MemberOut]:
    """The tenant's people and their roles, newest first."""
    page = await _people(request).list(principal.tenant_id, cursor=cursor, limit=limit)
    return listed(page, _member)


@router.get("/users/{user_id}", response_model=MemberOut, responses=error_responses(401, 403, 404))
async def get_person(user_id: str, request: Request, principal: Reader) -> MemberOut:
    """One person of the tenant."""
    return _member(await _people(request).get(principal.tenant_id, user_id))


@router.patch(
    "/users/{user_id}", response_model=MemberOut, responses=error_responses(401, 403, 404, 409, 422)
)
async def change_role(
    user_id: str, body: RoleChange, request: Request, principal: Writer
) -> MemberOut:
    """Give a person another role. Only an owner makes or unmakes owners; the tenant keeps
    at least one owner (409 ``last_owner``)."""
    member = await _people(request).change_role(
        principal.tenant_id, user_id, body.role.value, by=principal.scopes
    )
    return _member(member)


@router.delete(
    "/users/{user_id}",
    status_code=204,
    response_class=Response,
    responses=error_responses(401, 403, 404, 409),
)
async def remove_person(user_id: str, request: Request, principal: Writer) -> Response:
    """Take a person out of the tenant; their sessions here end at once."""
    await _people(request).remove(principal.tenant_id, user_id, by=principal.scopes)
    return Response(status_code=204)


@router.post(
    "/invitations",
    status_code=201,
    response_model=InvitationOut,
    responses=error_responses(401, 403, 409, 422),
)
async def invite(body: InvitationCreate, request: Request, principal: Writer) -> InvitationOut:
    """Invite someone by email. There is no mail server: in development the link is logged
    and returned here; in production hand it over yourself (``aybiza users invite``)."""
    invitations: Invitations = access(request).invitations
    invited = await invitations.invite(
        principal.tenant_id,
        body.email,
        body.role.value,
        by=principal.scopes,
        invited_by=principal.name or principal.kind,
    )
    settings: Settings = request.app.state.settings
    link = None
    if not settings.production:
        base = (settings.public_url or str(request.base_url)).rstrip("/")
        link = f"{base}{INVITATION_PAGE}?token={invited.token}"
        log.info("people.invitation_link", email=invited.row.email, link=link)
    return _invitation(invited.row, link)


@router.get(
    "/invitations", response_model=ListOf[InvitationOut], responses=error_responses(400, 401, 403)
)
async def list_invitations(
    request: Request, principal: Writer, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE
) -> ListOf[InvitationOut]:
    """Invitations not yet accepted, withdrawn or expired, newest first."""
    invitations: Invitations = access(request).invitations
    page = await invitations.list(principal.tenant_id, cursor=cursor, limit=limit)
    return listed(page, _invitation)


@router.delete(
    "/invitations/{invitation_id}",
    status_code=204,
    response_class=Response,
    responses=error_responses(401, 403, 404),
)
async def withdraw_invitation(invitation_id: str, request: Request, principal: Writer) -> Response:
    """Withdraw an invitation: its link stops working."""
    invitations: Invitations = access(request).invitations
    await invitations.revoke(principal.tenant_id, invitation_id)
    return Response(status_code=204)


@router.get(
    "/tenant/security", response_model=SecuritySettings, responses=error_responses(401, 403)
)
async def security_settings(request: Request, principal: Reader) -> SecuritySettings:
    """The tenant's security settings."""
    tenant, _live = await request.app.state.tenants.tenant(principal.tenant_id)
    return SecuritySettings(mfa_required=tenant.mfa_required)


@router.put(
    "/tenant/security", response_model=SecuritySettings, responses=error_responses(401, 403, 409)
)
async def set_security_settings(
    body: SecuritySettings, request: Request, principal: Owner
) -> SecuritySettings:
    """The owner's switch: require a second factor of everyone (409 ``mfa_not_enrolled``
    while you have none yourself)."""
    tenant = await _people(request).set_mfa_required(
        principal.tenant_id, body.mfa_required, user_id=principal.user_id
    )
    return SecuritySettings(mfa_required=tenant.mfa_required)
