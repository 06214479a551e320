"""``/auth/passkeys``: a small page that runs the WebAuthn ceremonies in the browser (add a
passkey; pass the second factor with one), with the project's own script and no library.
The dashboard links to it; its content security policy allows only this site's script."""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

router = APIRouter(prefix="/auth", include_in_schema=False)

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_STATIC = files("aybiza.api") / "static"


@router.get("/passkeys")
async def passkeys_page() -> HTMLResponse:
    """The page."""
    return HTMLResponse(
        (_STATIC / "passkeys.html").read_text("utf-8"),
        headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-store"},
    )


@router.get("/passkeys.js")
async def passkeys_script() -> Response:
    """The page's script."""
    return Response(
        (_STATIC / "passkeys.js").read_text("utf-8"),
        media_type="text/javascript",
        headers={"Content-Security-Policy": PAGE_CSP},
    )
