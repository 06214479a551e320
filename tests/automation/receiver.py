"""A tenant's endpoint for HTTP tools and workflow steps, written independently of the product:
it checks ``AYBIZA-Signature`` with its own few lines of ``hmac``, applies each side effect once
per ``Idempotency-Key`` (a repeat gets the first answer again) and counts what it saw.

Tests script answers per path (status, JSON, delay) or hold a request open until released.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


def signature_valid(header: str, body: bytes, secret: str, tolerance_s: float = 300) -> bool:
    """The webhook recipe: ``t=<unix>,v1=<hex HMAC-SHA256(secret, "t.body")>``."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    stamp = parts.get("t", "")
    if not stamp.isdigit() or abs(time.time() - int(stamp)) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


@dataclass(frozen=True)
class Answer:
    """A scripted answer."""

    status: int = 200
    json_body: Any = None
    text: str | None = None
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    """One request as received."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    signed: bool | None
    at: float = field(default_factory=time.monotonic)

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def key(self) -> str | None:
        return self.headers.get("idempotency-key")


@dataclass
class Receiver:
    """Answers ``{"ok": true, "echo": <body>}`` unless told otherwise."""

    secret: str | None = None
    # Per-path secrets (tools and workflows sign with their own), over ``secret``.
    path_secrets: dict[str, str] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    effects: dict[str, int] = field(default_factory=dict)
    port: int = 0
    _scripts: dict[str, deque[Answer]] = field(default_factory=dict)
    _holds: dict[str, asyncio.Event] = field(default_factory=dict)
    _arrived: dict[str, asyncio.Event] = field(default_factory=dict)
    _answers: dict[str, tuple[int, Any]] = field(default_factory=dict)
    _runner: web.AppRunner | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *answers: Answer) -> None:
        """Answer the next requests to ``path`` with these, then the default."""
        self._scripts.setdefault(path, deque()).extend(answers)

    def hold(self, path: str) -> None:
        """Keep the next request to ``path`` waiting until ``release(path)``."""
        self._holds[path] = asyncio.Event()
        self._arrived[path] = asyncio.Event()

    def release(self, path: str) -> None:
        self._holds.pop(path).set()

    async def arrived(self, path: str, timeout_s: float = 30.0) -> None:
        """Wait until a held request to ``path`` came in."""
        await asyncio.wait_for(self._arrived[path].wait(), timeout_s)

    def to(self, path: str) -> list[Seen]:
        return [seen for seen in self.seen if seen.path == path]

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    async def stop(self) -> None:
        for event in self._holds.values():
            event.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {name.lower(): value for name, value in request.headers.items()}
        signed = None
        secret = self.path_secrets.get(request.path, self.secret)
        if secret is not None:
            # Without a body (GET) the query string is what is signed.
            message = body or request.query_string.encode()
            signed = signature_valid(headers.get("aybiza-signature", ""), message, secret)
        seen = Seen(request.method, request.path, request.query_string, headers, body, signed)
        self.seen.append(seen)
        if request.path in self._holds:
            self._arrived[request.path].set()
            await self._holds[request.path].wait()
        queue = self._scripts.get(request.path)
        answer = queue.popleft() if queue else Answer()
        if answer.delay_s:
            await asyncio.sleep(answer.delay_s)
        if signed is False:
            return web.json_response({"error": "bad signature"}, status=401)
        key = seen.key
        if key is not None and key in self._answers and answer.status < 300:
            status, payload = self._answers[key]
            return web.json_response(payload, status=status)
        if answer.text is not None:
            return web.Response(text=answer.text, status=answer.status, headers=answer.headers)
        payload = (
            answer.json_body if answer.json_body is not None else {"ok": True, "echo": seen.json}
        )
        if answer.status < 300 and key is not None:
            self.effects[key] = self.effects.get(key, 0) + 1
            self._answers[key] = (answer.status, payload)
        return web.json_response(payload, status=answer.status, headers=answer.headers)
