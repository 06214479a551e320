"""``/v1/auth/oidc``: single sign-on through the OpenID Connect provider configured with
``AYBIZA_OIDC_*`` (404 when none is). ``start`` redirects the browser to the provider;
the provider sends it back to ``callback``, which signs the person in and redirects to
``next`` (a path on this site)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse

from aybiza.api.auth import access, client_address
from aybiza.api.errors import ApiError, error_responses
from aybiza.api.session_cookies import secure_cookies, set_session_cookies
from aybiza.config import Settings
from aybiza.errors import Unauthenticated
from aybiza.services.oidc import LOGIN_TTL_S, SingleSignOn, safe_next
from aybiza.services.sessions import Sessions, memberships_of, tenant_choice

router = APIRouter(prefix="/v1/auth/oidc", tags=["sign-in"])

OIDC_COOKIE = "aybiza_oidc"
_CALLBACK = "/v1/auth/oidc/callback"


def _sso(request: Request) -> SingleSignOn:
    sso: SingleSignOn | None = access(request).sso
    if sso is None:
        raise ApiError(404, "not_found", "single sign-on is not configured (AYBIZA_OIDC_ISSUER)")
    return sso


def _redirect_uri(request: Request) -> str:
    settings: Settings = request.app.state.settings
    base = (settings.public_url or str(request.base_url)).rstrip("/")
    return base + _CALLBACK


@router.get("/start", status_code=303, responses=error_responses(404, 422, 502))
async def start(
    request: Request,
    tenant: Annotated[str | None, Query(max_length=100, pattern=r"^[A-Za-z0-9._-]+$")] = None,
    next_path: Annotated[str | None, Query(alias="next", max_length=500)] = None,
) -> RedirectResponse:
    """Send the browser to the provider to sign in."""
    login = await _sso(request).start(
        _redirect_uri(request), next_path=safe_next(next_path), tenant=tenant
    )
    response = RedirectResponse(login.authorize_url, status_code=303)
    response.set_cookie(
        OIDC_COOKIE,
        login.cookie,
        max_age=LOGIN_TTL_S,
        path="/v1/auth/oidc",
        secure=secure_cookies(request),
        httponly=True,
        samesite="lax",
    )
    return response


@router.get("/callback", status_code=303, responses=error_responses(401, 404, 422, 502))
async def callback(
    request: Request,
    code: Annotated[str | None, Query(max_length=2000)] = None,
    state: Annotated[str | None, Query(max_length=200)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> RedirectResponse:
    """Where the provider sends the browser back: sign the person in."""
    if error is not None or not code or not state:
        raise Unauthenticated(
            f"the provider did not sign you in ({error or 'no code'})", field="code"
        )
    person = await _sso(request).finish(request.cookies.get(OIDC_COOKIE), code=code, state=state)
    database = request.app.state.database
    tenant, _role = tenant_choice(await memberships_of(database, person.user_id), person.tenant)
    sessions: Sessions = access(request).sessions
    started = await sessions.start(
        person.user_id,
        tenant.id,
        method="oidc",
        address=client_address(request) or "",
        user_agent=request.headers.get("user-agent", ""),
    )
    response = RedirectResponse(person.next_path, status_code=303)
    set_session_cookies(request, response, started)
    response.delete_cookie(OIDC_COOKIE, path="/v1/auth/oidc")
    return response
