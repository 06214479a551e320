"""Watches answers 401 and 403 go out and tells threat detection (``ThreatAlerts.denied``):
a burst of them to one source address is an alert. Authentication names the tenant in
``request.state.tenant_id`` when it got that far (a valid key lacking a permission)."""

from __future__ import annotations

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aybiza.services.access import Access

log = structlog.get_logger(__name__)
DENIED = frozenset({401, 403})


class DeniedWatch:
    """The ASGI middleware."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        await self.app(scope, receive, watched)
        if status not in DENIED:
            return
        access: Access | None = getattr(scope["app"].state, "access", None)
        client = scope.get("client")
        if access is None or not client:
            return
        tenant_id = scope.get("state", {}).get("tenant_id")
        try:
            await access.threats.denied(client[0], status, tenant_id)
        except Exception:  # the answer is sent; a failed alert must not become an error
            log.exception("security.denied_watch_failed", address=client[0])
