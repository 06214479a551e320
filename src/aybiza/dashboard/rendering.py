"""Templates and the page frame: who is signed in, what they may do, the CSRF token for forms.

Pages get their own content security policy: only this site's script, style, images, audio and
event streams; nothing may frame them."""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from aybiza.api.auth import CSRF_COOKIE
from aybiza.dashboard.charts import duration, money
from aybiza.dashboard.config_errors import marked_lines
from aybiza.security.permissions import Permission, grants
from aybiza.services.sessions import SignedIn

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
STATIC = files("aybiza.api") / "static"

# The navigation: label, path, the permission a person needs to see the entry.
NAVIGATION: tuple[tuple[str, str, Permission], ...] = (
    ("Overview", "/", Permission.CALLS_READ),
    ("Agents", "/agents", Permission.AGENTS_READ),
    ("Numbers", "/numbers", Permission.NUMBERS_READ),
    ("Live calls", "/live", Permission.CALLS_READ),
    ("Calls", "/calls", Permission.CALLS_READ),
    ("Analytics", "/analytics", Permission.CALLS_READ),
    ("Settings", "/settings", Permission.PEOPLE_READ),
)

templates = Environment(
    loader=PackageLoader("aybiza.dashboard", "templates"),
    autoescape=select_autoescape(["html", "svg"], default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["money"] = money
templates.filters["duration"] = duration
templates.filters["pretty_json"] = lambda value: json.dumps(value, indent=2, sort_keys=True)
templates.globals["mark"] = marked_lines


def render(
    request: Request,
    template: str,
    who: SignedIn | None = None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """``template`` rendered in the page frame."""
    held = who.principal().scopes if who is not None else frozenset()
    page = templates.get_template(template).render(
        request=request,
        who=who,
        path=request.url.path,
        csrf=request.cookies.get(CSRF_COOKIE, ""),
        can=lambda permission: grants(held, Permission(permission)),
        navigation=[(label, href) for label, href, needed in NAVIGATION if grants(held, needed)],
        **context,
    )
    return HTMLResponse(
        page,
        status_code=status_code,
        headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-store"},
    )
