"""Talk to an agent from the browser: the page ``/agents/{agent_id}/talk`` (microphone in,
the agent's voice out, the live transcript) and its call socket ``WS /web/call?agent_id=``.

The signed-in session authorises the socket (its cookie, a complete session, a role holding
``calls:write``, a page of this site as the ``Origin``); the call is then a normal call record
with ``carrier: "browser"``. Refusals close the socket with code 1008 and a reason naming what
is wrong. The wire format is ``aybiza.telephony.browser.wire``; docs/dashboard.md."""

from __future__ import annotations

import secrets
from importlib.resources import files
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket
from fastapi.responses import HTMLResponse, Response

from aybiza.api.auth import SESSION_COOKIE
from aybiza.security.permissions import Permission, grants
from aybiza.services.access import Access
from aybiza.services.calls import CallService
from aybiza.services.sessions import SessionState, SignedIn
from aybiza.store.queries import is_row_id
from aybiza.store.writer import StoreWriter
from aybiza.telephony.browser.call import BrowserCall
from aybiza.telephony.carrier import (
    CONCURRENCY_LIMIT,
    SERVER_DRAINING,
    IncomingCall,
    Refused,
)

router = APIRouter(include_in_schema=False)
POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; media-src 'self'; "
    "style-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_STATIC = files("aybiza.api") / "static"
_ASSETS = {
    "talk.js": "text/javascript",
    "talk-worklet.js": "text/javascript",
    "talk.css": "text/css",
}


@router.get("/agents/{agent_id}/talk")
async def talk_page(agent_id: str) -> Response:
    """The page (its script reads the agent id from the path)."""
    if not is_row_id(agent_id):
        return HTMLResponse("not an agent id", status_code=404)
    return HTMLResponse(
        (_STATIC / "talk.html").read_text("utf-8"),
        headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-store"},
    )


@router.get("/talk/{asset}")
async def talk_asset(asset: str) -> Response:
    """The page's script, its audio worklet and its style sheet."""
    media_type = _ASSETS.get(asset)
    if media_type is None:
        return Response("not found", status_code=404, media_type="text/plain")
    return Response(
        (_STATIC / asset).read_text("utf-8"),
        media_type=media_type,
        headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"},
    )


def _same_origin(websocket: WebSocket) -> bool:
    """A page of this site opened the socket (a cookie alone would let any site's page)."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return False
    host = websocket.headers.get("host", "")
    public = websocket.app.state.settings.public_url
    allowed = {host, urlsplit(public).netloc if public else host}
    return urlsplit(origin).netloc in allowed


async def _caller(websocket: WebSocket) -> SignedIn | str:
    """The signed-in person allowed to place a test call, or why not."""
    if not _same_origin(websocket):
        return "Origin: open the call from a page of this site"
    token = websocket.cookies.get(SESSION_COOKIE)
    access: Access = websocket.app.state.access
    signed_in = await access.sessions.authenticate(token) if token else None
    if signed_in is None:
        return f"{SESSION_COOKIE}: sign in first (no valid session)"
    if signed_in.state is not SessionState.ACTIVE:
        return f"{SESSION_COOKIE}: pass the second factor first ({signed_in.state.value})"
    if not grants(signed_in.principal().scopes, Permission.CALLS_WRITE):
        return f"your role {signed_in.role!r} lacks the permission 'calls:write'"
    return signed_in


@router.websocket("/web/call")
async def web_call(websocket: WebSocket) -> None:
    """A browser test call to ``agent_id``."""
    await websocket.accept()
    caller = await _caller(websocket)
    if isinstance(caller, str):
        await websocket.close(POLICY_VIOLATION, caller)
        return
    agent_id = websocket.query_params.get("agent_id", "")
    if not is_row_id(agent_id):
        await websocket.close(POLICY_VIOLATION, "agent_id: an agent id (32 hex digits) expected")
        return
    calls: CallService = websocket.app.state.calls
    incoming = IncomingCall(
        carrier="browser",
        carrier_call_id=f"web-{secrets.token_hex(16)}",
        from_number=caller.user.email[:64],
        to_number=f"agent:{agent_id}",
        platform_number="",
    )
    admission = await calls.admit_browser(incoming, caller.tenant.id, agent_id)
    if isinstance(admission, Refused):
        later = admission.reason in (CONCURRENCY_LIMIT, SERVER_DRAINING)
        code = TRY_AGAIN_LATER if later else POLICY_VIOLATION
        reason = (
            f"agent_id: no agent {agent_id} in this tenant"
            if admission.reason == "agent-not-found"
            else admission.reason
        )
        await websocket.close(code, reason)
        return
    writer: StoreWriter = websocket.app.state.writer
    call = BrowserCall(websocket, calls, incoming.carrier_call_id, writer.flush)
    await call.run(admission.call_id)
