"""``/v1/auth``: sign in with a password, accept an invitation, see who you are, switch tenant,
list and revoke your sessions, sign out. The JSON sign-in API the dashboard's pages use; the
session then rides in cookies (``aybiza.api.session_cookies``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from aybiza.api.auth import SESSION_COOKIE, access, client_address, signed_in_as
from aybiza.api.errors import error_responses
from aybiza.api.session_cookies import clear_session_cookies, set_session_cookies
from aybiza.errors import Unauthenticated
from aybiza.security.permissions import role_permissions
from aybiza.services.invitations import Invitations
from aybiza.services.mfa import Mfa
from aybiza.services.sessions import NewSession, Sessions, SessionState, SignedIn, memberships_of
from aybiza.services.sign_in import Client, SignIn
from aybiza.store.people_models import UserSession

router = APIRouter(prefix="/v1/auth", tags=["sign-in"])

Anyone = Annotated[SignedIn, Depends(signed_in_as())]
Active = Annotated[SignedIn, Depends(signed_in_as(SessionState.ACTIVE))]
Email = Annotated[str, Field(min_length=3, max_length=320, examples=["ada@example.com"])]
Password = Annotated[str, Field(min_length=1, max_length=256)]
TenantName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")]


class SignInBody(BaseModel):
    """An email and password; ``tenant`` (a name) picks the tenant to act for."""

    model_config = ConfigDict(extra="forbid")
    email: Email
    password: Password
    tenant: TenantName | None = None


class AcceptBody(BaseModel):
    """The invitation link's token and the password to set (or, for someone who has an
    account already, its password)."""

    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=10, max_length=200)
    password: Password
    name: str = Field(default="", max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")


class SwitchBody(BaseModel):
    """The tenant to act for from now on."""

    model_config = ConfigDict(extra="forbid")
    tenant: TenantName


class TenantRole(BaseModel):
    """A tenant the person belongs to and their role there."""

    id: str
    name: str
    role: str


class PersonOut(BaseModel):
    """The person."""

    id: str
    email: str
    name: str


class SessionOut(BaseModel):
    """One of the person's sessions."""

    id: str
    method: str
    address: str
    user_agent: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    current: bool = False


class MfaOut(BaseModel):
    """The person's second factors, and whether the tenant requires one."""

    required: bool
    totp: bool
    passkeys: int
    recovery_codes_left: int


class MeOut(BaseModel):
    """Who is signed in, for which tenant, with what role and permissions; ``state`` says
    whether a second factor is still due (``mfa_required``) or must be set up first
    (``mfa_enrollment_required``)."""

    state: SessionState
    user: PersonOut
    tenant: TenantRole
    permissions: list[str]
    tenants: list[TenantRole]
    session: SessionOut
    idle_until: datetime
    mfa: MfaOut


class SignedInOut(MeOut):
    """A new session: ``csrf_token`` (also in the ``aybiza_csrf`` cookie) goes in the
    ``X-CSRF-Token`` header of every request that changes something."""

    csrf_token: str


def session_out(row: UserSession, current: str | None = None) -> SessionOut:
    """A session as listed."""
    return SessionOut(
        id=row.id,
        method=row.method,
        address=row.address,
        user_agent=row.user_agent,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        expires_at=row.expires_at,
        current=row.id == current,
    )


async def me(request: Request, who: SignedIn) -> MeOut:
    """The ``/v1/auth/me`` document of a session."""
    mfa: Mfa = access(request).mfa
    factors = await mfa.factors(who.user.id)
    tenants = await memberships_of(request.app.state.database, who.user.id)
    return MeOut(
        state=who.state,
        user=PersonOut(id=who.user.id, email=who.user.email, name=who.user.name),
        tenant=TenantRole(id=who.tenant.id, name=who.tenant.name, role=who.role),
        permissions=sorted(role_permissions(who.role)),
        tenants=[TenantRole(id=t.id, name=t.name, role=role) for t, role in tenants],
        session=session_out(who.session, who.session.id),
        idle_until=who.idle_until,
        mfa=MfaOut(
            required=who.tenant.mfa_required,
            totp=factors.totp,
            passkeys=factors.passkeys,
            recovery_codes_left=factors.recovery_codes_left,
        ),
    )


async def signed_in(request: Request, response: Response, started: NewSession) -> SignedInOut:
    """Set the new session's cookies and describe it."""
    sessions: Sessions = access(request).sessions
    who = await sessions.authenticate(started.token)
    if who is None:
        raise Unauthenticated("the new session ended at once", field="session")
    set_session_cookies(request, response, started)
    return SignedInOut(**(await me(request, who)).model_dump(), csrf_token=started.csrf)


def _client(request: Request) -> Client:
    return Client(client_address(request) or "", request.headers.get("user-agent", ""))


@router.post("/sign-in", response_model=SignedInOut, responses=error_responses(401, 404, 422, 429))
async def sign_in(body: SignInBody, request: Request, response: Response) -> SignedInOut:
    """Sign in with a password. Repeated failures lock the account and the address out for
    a while (429 with ``Retry-After``), doubling with each further failure."""
    service: SignIn = access(request).sign_in
    started = await service.with_password(
        body.email, body.password, tenant=body.tenant, client=_client(request)
    )
    return await signed_in(request, response, started)


@router.post(
    "/invitations/accept", response_model=SignedInOut, responses=error_responses(401, 404, 422)
)
async def accept_invitation(body: AcceptBody, request: Request, response: Response) -> SignedInOut:
    """Join a tenant through an invitation link's token, and sign in."""
    invitations: Invitations = access(request).invitations
    joined = await invitations.accept(body.token, password=body.password, name=body.name)
    sessions: Sessions = access(request).sessions
    client = _client(request)
    started = await sessions.start(
        joined.user_id,
        joined.tenant_id,
        method="invitation",
        address=client.address,
        user_agent=client.user_agent,
    )
    return await signed_in(request, response, started)


@router.get("/me", response_model=MeOut, responses=error_responses(401))
async def who_am_i(request: Request, who: Anyone) -> MeOut:
    """The signed-in person, their tenants, the session and its second-factor state."""
    return await me(request, who)


@router.post(
    "/sign-out", status_code=204, response_class=Response, responses=error_responses(401, 403)
)
async def sign_out(request: Request, who: Anyone) -> Response:
    """End this session and forget its cookies."""
    sessions: Sessions = access(request).sessions
    await sessions.revoke(who.user.id, who.session.id, action="user.signed_out")
    response = Response(status_code=204)
    clear_session_cookies(request, response)
    return response


@router.post("/switch-tenant", response_model=MeOut, responses=error_responses(401, 403, 404))
async def switch_tenant(body: SwitchBody, request: Request, who: Active) -> MeOut:
    """Act for another tenant you belong to (its MFA requirement applies from now on)."""
    sessions: Sessions = access(request).sessions
    await sessions.switch(who, body.tenant)
    token = request.cookies.get(SESSION_COOKIE, "")
    switched = await sessions.authenticate(token)
    if switched is None:
        raise Unauthenticated("the session ended", field="session")
    return await me(request, switched)


@router.get("/sessions", response_model=list[SessionOut], responses=error_responses(401))
async def list_sessions(request: Request, who: Active) -> list[SessionOut]:
    """Your live sessions, newest first (``current`` marks this one)."""
    sessions: Sessions = access(request).sessions
    return [session_out(row, who.session.id) for row in await sessions.list(who.user.id)]


class Revoked(BaseModel):
    """How many sessions ended."""

    revoked: int


@router.delete("/sessions", response_model=Revoked, responses=error_responses(401, 403))
async def revoke_other_sessions(request: Request, who: Active) -> Revoked:
    """End every session of yours but this one (signed in somewhere you should not be)."""
    sessions: Sessions = access(request).sessions
    return Revoked(revoked=await sessions.revoke_others(who.user.id, who.session.id))


@router.delete(
    "/sessions/{session_id}",
    status_code=204,
    response_class=Response,
    responses=error_responses(401, 403, 404),
)
async def revoke_session(session_id: str, request: Request, who: Active) -> Response:
    """End one of your sessions (this one included: that signs you out here)."""
    sessions: Sessions = access(request).sessions
    await sessions.revoke(who.user.id, session_id)
    response = Response(status_code=204)
    if session_id == who.session.id:
        clear_session_cookies(request, response)
    return response
