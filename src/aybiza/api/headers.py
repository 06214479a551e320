"""Security headers on every HTTP response, set by a pure ASGI middleware outside everything
else (so the framework's own 404s and 500s and the limits' 413s and 429s carry them too).

- ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``, ``Referrer-Policy:
  no-referrer`` everywhere;
- ``Content-Security-Policy``: nothing may load or frame a response (a JSON API and TwiML need
  nothing); the interactive API docs (``/docs``, ``/redoc``) get the sources their page uses;
- ``Strict-Transport-Security`` when the request came over https (directly, or through a proxy
  uvicorn trusts) or ``AYBIZA_PUBLIC_URL`` is https;
- ``Cache-Control: no-store`` on the API (``/v1``): answers hold tenants' data.

A header the application set itself is left as it is.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aybiza.api.body_limits import API_PREFIX

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# FastAPI's Swagger UI and ReDoc pages: an inline start-up script and their assets' CDN.
DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
    "https://cdn.redoc.ly; connect-src 'self'; worker-src blob:; frame-ancestors 'none'; "
    "base-uri 'none'"
)
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
HSTS = "max-age=31536000"
ALWAYS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)


def security_headers(path: str, *, https: bool) -> list[tuple[bytes, bytes]]:
    """The headers a response to ``path`` gets (``https``: add HSTS)."""
    headers = list(ALWAYS)
    policy = DOCS_CSP if path in DOCS_PATHS else API_CSP
    headers.append((b"content-security-policy", policy.encode()))
    if https:
        headers.append((b"strict-transport-security", HSTS.encode()))
    if path.startswith(API_PREFIX):
        headers.append((b"cache-control", b"no-store"))
    return headers


class SecurityHeaders:
    """The ASGI middleware; ``public_https``: the platform is published over https."""

    def __init__(self, app: ASGIApp, *, public_https: bool) -> None:
        self.app = app
        self.public_https = public_https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = self.public_https or scope.get("scheme") == "https"
        wanted = security_headers(scope["path"], https=https)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(name, value) for name, value in wanted if name not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
