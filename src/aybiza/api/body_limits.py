"""Request bodies are capped while they stream in, before anything buffers them.

A pure ASGI middleware (no framework buffering): a declared ``Content-Length`` over the cap is
answered 413 without reading a byte; a body without one (chunked) is counted chunk by chunk
and refused the moment it passes the cap. JSON bodies of the API are also measured for nesting
depth as they arrive (``JsonDepth``) and refused with 422 when too deep. The rest of a refused
body is read and dropped by the server, so the client gets its answer on the same connection.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aybiza.api.errors import error_response
from aybiza.api.json_depth import JsonDepth

CARRIER_PREFIX = "/twilio/"
API_PREFIX = "/v1/"


@dataclass(frozen=True, slots=True)
class BodyCaps:
    """``api_bytes`` for every body except the carrier webhooks' (``webhook_bytes``, under
    ``/twilio/``); ``json_depth``: how deeply API JSON bodies may nest."""

    api_bytes: int
    webhook_bytes: int
    json_depth: int

    def bytes_for(self, path: str) -> int:
        """The cap on a request body to ``path``."""
        return self.webhook_bytes if path.startswith(CARRIER_PREFIX) else self.api_bytes


class BodyRefused(HTTPException):
    """Raised into the application from ``receive``: its body broke a cap. An HTTP exception,
    so the framework passes it through untouched; the middleware answers it."""

    def __init__(self, status: int, code: str, message: str, field: str | None) -> None:
        super().__init__(status_code=status, detail=message)
        self.code, self.message, self.field = code, message, field


def too_large(cap: int) -> BodyRefused:
    """The 413 for a body over ``cap`` bytes."""
    return BodyRefused(
        413, "body_too_large", f"the request body exceeds the limit of {cap} bytes", None
    )


def too_deep(depth: int) -> BodyRefused:
    """The 422 for JSON nested deeper than ``depth``."""
    return BodyRefused(
        422,
        "json_too_deep",
        f"the JSON body nests arrays and objects deeper than {depth} levels",
        "body",
    )


class BodyLimit:
    """The ASGI middleware enforcing ``BodyCaps`` on HTTP requests."""

    def __init__(self, app: ASGIApp, caps: BodyCaps) -> None:
        self.app = app
        self.caps = caps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        cap = self.caps.bytes_for(path)
        declared = _content_length(scope)
        if declared is not None and declared > cap:
            await _answer(too_large(cap), scope, receive, send)
            return
        depth = JsonDepth(self.caps.json_depth) if _json_api_body(scope, path) else None
        guard = _GuardedBody(receive, send, cap, depth)
        try:
            await self.app(scope, guard.receive, guard.send)
        except Exception:
            # Whatever the application made of the refusal (its own error, a 400 from the
            # framework's body parser), the refusal is the answer.
            if guard.refusal is None:
                raise
        if guard.refusal is not None and not guard.started:
            await _answer(guard.refusal, scope, receive, send)


class _GuardedBody:
    """One request's ``receive`` and ``send`` with the caps applied."""

    def __init__(self, receive: Receive, send: Send, cap: int, depth: JsonDepth | None) -> None:
        self._receive, self._send = receive, send
        self._cap = cap
        self._depth = depth
        self._received = 0
        self.refusal: BodyRefused | None = None
        self.started = False

    async def receive(self) -> Message:
        if self.refusal is not None:
            raise self.refusal
        message = await self._receive()
        if message["type"] == "http.request":
            body: bytes = message.get("body", b"")
            self._received += len(body)
            if self._received > self._cap:
                self.refusal = too_large(self._cap)
            elif self._depth is not None and body and not self._depth.feed(body):
                self.refusal = too_deep(self._depth.max_depth)
            if self.refusal is not None:
                raise self.refusal
        return message

    async def send(self, message: Message) -> None:
        if self.refusal is not None and not self.started:
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


async def _answer(refusal: BodyRefused, scope: Scope, receive: Receive, send: Send) -> None:
    response = error_response(refusal.status_code, refusal.code, refusal.message, refusal.field)
    await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _json_api_body(scope: Scope, path: str) -> bool:
    """API bodies that are (or will be parsed as) JSON: JSON content types, or none given."""
    if not path.startswith(API_PREFIX):
        return False
    for name, value in scope["headers"]:
        if name == b"content-type":
            return b"json" in value.lower()
    return True
