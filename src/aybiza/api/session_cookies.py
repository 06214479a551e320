"""The session's cookies: ``aybiza_session`` (the session token: ``HttpOnly``, ``SameSite=Lax``)
and ``aybiza_csrf`` (the CSRF token, readable by the page's script so it can echo it;
``SameSite=Strict``). Both are ``Secure`` when the platform is reached over https (the request,
``AYBIZA_PUBLIC_URL``, or ``AYBIZA_ENV=production``), and last as long as the session may."""

from __future__ import annotations

from fastapi import Request, Response

from aybiza.api.auth import CSRF_COOKIE, SESSION_COOKIE
from aybiza.config import Settings
from aybiza.services.sessions import NewSession


def secure_cookies(request: Request) -> bool:
    """Whether cookies get the ``Secure`` attribute."""
    settings: Settings = request.app.state.settings
    public = (settings.public_url or "").lower().startswith("https://")
    return public or settings.production or request.url.scheme == "https"


def set_session_cookies(request: Request, response: Response, started: NewSession) -> None:
    """Give the browser the new session's cookies."""
    settings: Settings = request.app.state.settings
    max_age = int(settings.access.session_absolute_s)
    secure = secure_cookies(request)
    response.set_cookie(
        SESSION_COOKIE,
        started.token,
        max_age=max_age,
        path="/",
        secure=secure,
        httponly=True,
        samesite="lax",
    )
    response.set_cookie(
        CSRF_COOKIE,
        started.csrf,
        max_age=max_age,
        path="/",
        secure=secure,
        httponly=False,
        samesite="strict",
    )


def clear_session_cookies(request: Request, response: Response) -> None:
    """Make the browser forget the session."""
    secure = secure_cookies(request)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=secure, httponly=True, samesite="lax")
    response.delete_cookie(CSRF_COOKIE, path="/", secure=secure, samesite="strict")
