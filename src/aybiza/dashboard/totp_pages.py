"""Set up an authenticator app (TOTP) from the dashboard: the secret as text and as a QR code,
the first code to confirm it, then the recovery codes, shown once. The same service and rules
as ``/v1/auth/mfa/totp``: a session that must set up a factor before anything else may use
these pages, and confirming counts as passing the second factor for that session."""

from __future__ import annotations

from typing import Annotated

import segno
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from aybiza.api.auth import access, check_csrf, session_of
from aybiza.dashboard.gate import PageRedirect
from aybiza.dashboard.rendering import render
from aybiza.errors import ServiceError
from aybiza.services.sessions import SessionState, SignedIn

router = APIRouter(include_in_schema=False)

PAGE = "totp_setup.html"
_MAY_ENROL = (SessionState.ACTIVE, SessionState.MFA_ENROLLMENT_REQUIRED)


async def _enrolling(request: Request) -> SignedIn:
    """The person setting a factor up: signed in fully, or owing one they must first set up."""
    who = await session_of(request)
    if who is None:
        raise PageRedirect("/sign-in?next=/mfa/totp")
    if who.state not in _MAY_ENROL:
        raise PageRedirect("/mfa")
    return who


def _framed(who: SignedIn) -> SignedIn | None:
    """Who the page frame shows: nobody (no navigation) until the second factor is set up."""
    return who if who.state is SessionState.ACTIVE else None


def qr_code(uri: str) -> str:
    """The ``otpauth://`` URI as a QR code in a ``data:`` URI (the pages allow no other host)."""
    return str(segno.make(uri, error="m").svg_data_uri(scale=5, border=2))


@router.get("/mfa/totp")
async def totp_page(request: Request) -> Response:
    """Whether TOTP is on; if not, the button that makes a new secret."""
    who = await _enrolling(request)
    factors = await access(request).mfa.factors(who.user.id)
    return render(request, PAGE, _framed(who), step="start", totp_on=factors.totp, error="")


@router.post("/mfa/totp", response_model=None)
async def start_totp(request: Request) -> Response:
    """A new secret (replacing one not yet confirmed): shown with its QR code and the form."""
    who = await _enrolling(request)
    await check_csrf(request, who)
    try:
        setup = await access(request).mfa.start_totp(who.user.id)
    except ServiceError as exc:
        return render(
            request,
            PAGE,
            _framed(who),
            status_code=409,
            step="start",
            totp_on=True,
            error=exc.message,
        )
    return render(
        request,
        PAGE,
        _framed(who),
        step="confirm",
        secret=setup.secret,
        qr=qr_code(setup.uri),
        error="",
    )


@router.post("/mfa/totp/confirm", response_model=None)
async def confirm_totp(request: Request, code: Annotated[str, Form(max_length=64)]) -> Response:
    """Turn TOTP on with its first code; the recovery codes are shown this once."""
    who = await _enrolling(request)
    await check_csrf(request, who)
    try:
        codes = await access(request).mfa.confirm_totp(who.user.id, code.strip().replace(" ", ""))
    except ServiceError as exc:
        return render(
            request,
            PAGE,
            _framed(who),
            status_code=422,
            step="retry",
            error=exc.message,
            totp_on=False,
        )
    await access(request).sessions.passed_mfa(who.session.id)
    return render(request, PAGE, _framed(who), step="done", recovery_codes=codes, error="")


@router.get("/mfa/totp/done")
async def totp_done(request: Request) -> Response:
    """Where the recovery-codes page's button leads: on to the dashboard."""
    await _enrolling(request)
    return RedirectResponse("/", status_code=303)
