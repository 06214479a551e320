"""Who is calling, and may they: as FastAPI dependencies.

A request authenticates with a bearer API key (``Authorization: Bearer ayb_...``) or with a
person's session cookie (``aybiza_session``). A cookie-authenticated request that changes
something (any method but GET, HEAD, OPTIONS) must also carry the session's CSRF token, in the
``X-CSRF-Token`` header or a ``csrf_token`` form field: a page of another site can make the
browser send the cookie, never read the token.

``Depends(require(Permission.AGENTS_WRITE))`` gives the handler the caller's ``Principal``:
401 without a valid key or a complete session, 403 naming the permission the key's scopes or
the person's role lack. Every authenticated request also names its actor for the audit log.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from aybiza.api.errors import ApiError
from aybiza.security.permissions import Permission, grants
from aybiza.security.tokens import same_token
from aybiza.services.access import Access
from aybiza.services.sessions import Sessions, SessionState, SignedIn
from aybiza.services.tenants import Principal, TenantService
from aybiza.services.threats import ThreatAlerts
from aybiza.store.audit_log import Actor, act_as

SESSION_COOKIE = "aybiza_session"
CSRF_COOKIE = "aybiza_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key: `Authorization: Bearer ayb_...`",
)
_session_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    scheme_name="Session",
    description="A person's session (`POST /v1/auth/sign-in`); requests that change something "
    f"also send the CSRF token in `{CSRF_HEADER}`.",
)
SessionCookie = Annotated[str | None, Depends(_session_cookie)]


def access(request: Request) -> Access:
    """The process's access services (sessions, people, second factors, audit...)."""
    services: Access = request.app.state.access
    return services


def client_address(request: Request) -> str | None:
    """The source address as the server sees it (behind a trusted proxy: the forwarded one)."""
    return request.client.host if request.client else None


async def session_of(request: Request) -> SignedIn | None:
    """The person's session behind the request's cookie (complete or not), or None. Pages
    call this to decide between showing themselves and sending the browser to sign in."""
    cached: SignedIn | None = getattr(request.state, "signed_in", None)
    if cached is not None:
        return cached
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    sessions: Sessions = access(request).sessions
    found = await sessions.authenticate(token)
    if found is not None:
        request.state.signed_in = found
        request.state.tenant_id = found.tenant.id
        act_as(found.actor(client_address(request), _request_line(request)))
    return found


async def check_csrf(request: Request, signed_in: SignedIn) -> None:
    """403 unless a request that changes something carries the session's CSRF token."""
    if request.method in SAFE_METHODS:
        return
    token = request.headers.get(CSRF_HEADER)
    if token is None and request.headers.get("content-type", "").startswith(_FORMS):
        form = await request.form()
        field = form.get(CSRF_FIELD)
        token = field if isinstance(field, str) else None
    if not token or not same_token(token, signed_in.session.csrf_hash):
        raise ApiError(
            403,
            "csrf_failed",
            f"send the session's CSRF token in the {CSRF_HEADER} header "
            f"(the {CSRF_COOKIE} cookie holds it)",
            CSRF_HEADER,
        )


async def person(request: Request, *, states: frozenset[SessionState]) -> SignedIn:
    """The signed-in person, in one of ``states``, with the CSRF check done."""
    signed_in = await session_of(request)
    if signed_in is None:
        raise ApiError(401, "unauthorized", "sign in first (no valid session)", SESSION_COOKIE)
    await check_csrf(request, signed_in)
    if signed_in.state not in states:
        raise _incomplete(signed_in.state)
    return signed_in


def signed_in_as(*states: SessionState) -> Callable[..., Awaitable[SignedIn]]:
    """A dependency for the person's own routes, open to sessions in ``states`` (every state
    when none is given: sign-out, "who am I")."""
    allowed = frozenset(states or SessionState)

    async def dependency(request: Request, _cookie: SessionCookie) -> SignedIn:
        return await person(request, states=allowed)

    return dependency


async def authenticated(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: SessionCookie,
) -> Principal:
    """The caller behind the bearer key or the complete session."""
    address = client_address(request)
    if credentials is None:
        if cookie:
            signed_in = await person(request, states=frozenset({SessionState.ACTIVE}))
            return signed_in.principal()
        raise ApiError(
            401, "unauthorized", "send the API key as Authorization: Bearer <key>", "Authorization"
        )
    tenants: TenantService = request.app.state.tenants
    principal = await tenants.authenticate(credentials.credentials)
    if principal is None:
        raise ApiError(401, "unauthorized", "unknown or revoked API key", "Authorization")
    request.state.tenant_id = principal.tenant_id
    act_as(
        Actor(
            principal.kind,
            principal.name,
            principal.key_id,
            " ".join(sorted(principal.scopes)),
            principal.tenant_id,
            address,
            _request_line(request),
        )
    )
    threats: ThreatAlerts = access(request).threats
    await threats.key_used(principal, address)
    return principal


def require(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    """A dependency that needs a key or a person holding ``permission``."""

    async def check(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
        if not grants(principal.scopes, permission):
            if principal.role is not None:
                raise ApiError(
                    403,
                    "missing_permission",
                    f"your role {principal.role!r} lacks the permission {permission.value!r}",
                    None,
                    required_scope=permission.value,
                )
            raise ApiError(
                403,
                "missing_scope",
                f"this API key lacks the scope {permission.value!r}",
                "Authorization",
                required_scope=permission.value,
            )
        return principal

    return check


def _incomplete(state: SessionState) -> ApiError:
    if state is SessionState.MFA_REQUIRED:
        message = "pass your second factor first (TOTP code, passkey or recovery code)"
    else:
        message = "this tenant requires a second factor: set up TOTP or a passkey first"
    return ApiError(401, state.value, message, SESSION_COOKIE)


def _request_line(request: Request) -> str:
    return f"{request.method} {request.url.path}"
