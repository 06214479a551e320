"""Sign in (and the second factor), sign out, switch tenant, accept an invitation: forms over
the same services as ``/v1/auth`` (lock-outs, audit and second-factor rules included)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from aybiza.api.auth import access, check_csrf, client_address, session_of
from aybiza.api.mfa import passed_second_factor
from aybiza.api.session_cookies import clear_session_cookies, set_session_cookies
from aybiza.dashboard.gate import PageRedirect
from aybiza.dashboard.rendering import render
from aybiza.errors import Locked, NotFound, ServiceError, Unauthenticated
from aybiza.services.sessions import NewSession, SessionState
from aybiza.services.sign_in import Client

router = APIRouter(include_in_schema=False)

Text = Annotated[str, Form(max_length=320)]
Secret = Annotated[str, Form(max_length=256)]


def _status(error: ServiceError) -> int:
    """The HTTP status the API gives ``error`` (``aybiza.api.errors``)."""
    for kind, status in ((Locked, 429), (Unauthenticated, 401), (NotFound, 404)):
        if isinstance(error, kind):
            return status
    return 422


def _client(request: Request) -> Client:
    return Client(client_address(request) or "", request.headers.get("user-agent", ""))


def _safe_next(target: str) -> str:
    # Only a path of this site: never an address elsewhere (an open redirect).
    return target if target.startswith("/") and not target.startswith("//") else "/"


def _started(request: Request, started: NewSession, target: str) -> Response:
    response = RedirectResponse(target, status_code=303)
    set_session_cookies(request, response, started)
    return response


@router.get("/sign-in")
async def sign_in_page(request: Request, next: str = "/") -> HTMLResponse:
    """The sign-in form."""
    return render(request, "sign_in.html", next=_safe_next(next), email="", tenant="", error="")


@router.post("/sign-in", response_model=None)
async def sign_in(
    request: Request, email: Text, password: Secret, tenant: Text = "", next: Text = "/"
) -> Response:
    """Check the password; on to the page asked for, or to the second factor."""
    try:
        started = await access(request).sign_in.with_password(
            email, password, tenant=tenant or None, client=_client(request)
        )
    except ServiceError as exc:
        status = _status(exc)
        return render(
            request,
            "sign_in.html",
            status_code=status,
            next=_safe_next(next),
            email=email,
            tenant=tenant,
            error=exc.message,
        )
    who = await access(request).sessions.authenticate(started.token)
    active = who is not None and who.state is SessionState.ACTIVE
    return _started(request, started, _safe_next(next) if active else "/mfa")


@router.get("/mfa")
async def mfa_page(request: Request) -> Response:
    """The second-factor form (or where to set one up)."""
    who = await session_of(request)
    if who is None:
        raise PageRedirect("/sign-in")
    if who.state is SessionState.ACTIVE:
        return RedirectResponse("/", status_code=303)
    enrolling = who.state is SessionState.MFA_ENROLLMENT_REQUIRED
    return render(request, "mfa.html", enrolling=enrolling, error="")


@router.post("/mfa", response_model=None)
async def mfa(request: Request, code: Annotated[str, Form(max_length=64)]) -> Response:
    """Pass the second factor with a TOTP or recovery code (failures count as failed sign-ins)."""
    who = await session_of(request)
    if who is None:
        raise PageRedirect("/sign-in")
    await check_csrf(request, who)
    factors = access(request).mfa
    digits = code.strip().replace(" ", "")
    totp = digits.isdigit() and len(digits) == 6

    def check() -> Awaitable[bool]:
        if totp:
            return factors.verify_totp(who.user.id, digits)
        return factors.use_recovery_code(who.user.id, code.strip())

    try:
        await passed_second_factor(request, who, check, "totp" if totp else "recovery_code")
    except ServiceError as exc:
        status = 429 if isinstance(exc, Locked) else 401
        return render(request, "mfa.html", status_code=status, enrolling=False, error=exc.message)
    return RedirectResponse("/", status_code=303)


@router.post("/sign-out", response_model=None)
async def sign_out(request: Request) -> Response:
    """End the session and forget its cookies."""
    who = await session_of(request)
    response = RedirectResponse("/sign-in", status_code=303)
    if who is not None:
        await check_csrf(request, who)
        await access(request).sessions.revoke(who.user.id, who.session.id, action="user.signed_out")
    clear_session_cookies(request, response)
    return response


@router.post("/switch-tenant", response_model=None)
async def switch_tenant(request: Request, tenant: Annotated[str, Form(max_length=100)]) -> Response:
    """Act for another tenant the person belongs to."""
    who = await session_of(request)
    if who is None or who.state is not SessionState.ACTIVE:
        raise PageRedirect("/sign-in")
    await check_csrf(request, who)
    await access(request).sessions.switch(who, tenant)
    return RedirectResponse("/", status_code=303)


@router.get("/invitations/accept")
async def invitation_page(request: Request, token: str = "") -> HTMLResponse:
    """The invitation link's page: set a password and join."""
    return render(request, "invitation.html", token=token[:200], name="", error="")


@router.post("/invitations/accept", response_model=None)
async def accept_invitation(
    request: Request,
    token: Annotated[str, Form(max_length=200)],
    password: Secret,
    name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Join the tenant and sign in."""
    services = access(request)
    try:
        joined = await services.invitations.accept(token, password=password, name=name)
    except ServiceError as exc:
        status = _status(exc)
        return render(
            request,
            "invitation.html",
            status_code=status,
            token=token,
            name=name,
            error=exc.message,
        )
    client = _client(request)
    started = await services.sessions.start(
        joined.user_id,
        joined.tenant_id,
        method="invitation",
        address=client.address,
        user_agent=client.user_agent,
    )
    return _started(request, started, "/")
