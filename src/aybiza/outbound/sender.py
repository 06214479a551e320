"""``Sender``: every request the platform sends to a customer's URL.

Each attempt is checked by the guard (resolved once, refused targets never contacted), connected
to the checked address, signed (``AYBIZA-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
"t.body">``, one ``v1`` per secret), carries the request's ``Idempotency-Key`` (the same on every
attempt), and is bounded by a timeout and a response-size cap. Redirects are never followed; a
redirect to a refused address is reported as refused. Timeouts, failed connections, 429 and 5xx
are retried with exponential backoff and jitter when the caller allows more than one attempt.
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import httpcore
import httpx
import structlog

from aybiza.outbound.connector import Network, PinnedConnector, pinned
from aybiza.outbound.guard import Guard, Refused, Unresolvable
from aybiza.security.signing import SIGNATURE_HEADER, signature_header

log = structlog.get_logger(__name__)

USER_AGENT = "AYBIZA/1"
IDEMPOTENCY_HEADER = "Idempotency-Key"
# Bytes of an answer read at most; the rest is dropped unread.
MAX_RESPONSE_BYTES = 256_000
FailureKind = Literal["refused", "timeout", "connection"]
_NETWORK_ERRORS = (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol)


@dataclass(frozen=True, slots=True)
class OutboundRequest:
    """What to send. ``body`` is signed as is; without a body (GET) the arguments travel in
    ``params`` and the query string is what is signed. ``signing_secrets``: newest first (two
    while a secret is being rotated); none sends no signature."""

    method: str
    url: str
    body: bytes = b""
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    signing_secrets: Sequence[str] = ()
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class OutboundResponse:
    """What came back from the last attempt (``truncated``: the body was cut at the cap)."""

    status: int
    body: bytes
    content_type: str
    truncated: bool
    attempts: int

    @property
    def ok(self) -> bool:
        """True for a 2xx answer."""
        return 200 <= self.status < 300


class OutboundError(Exception):
    """No answer to use: refused by the guard (nothing was sent), timed out, or no connection
    (after the last attempt)."""

    def __init__(self, kind: FailureKind, message: str, attempts: int) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.attempts = attempts


@dataclass(frozen=True, slots=True)
class Retries:
    """How often to try and how long to wait: after failed attempt ``n`` the wait is
    ``backoff_s * 2**(n-1)`` plus up to ``jitter`` of itself at random, so processes retrying
    the same endpoint drift apart; a wait that would pass ``max_backoff_s`` is instead up to
    ``jitter`` below it, so the cap holds and the jitter stays."""

    attempts: int = 1
    backoff_s: float = 0.25
    max_backoff_s: float = 3600.0
    jitter: float = 0.1

    def delay_s(self, attempt: int, rng: random.Random) -> float:
        """The wait after failed attempt ``attempt`` (1-based)."""
        spread = rng.random() * self.jitter
        delay = self.backoff_s * 2.0 ** (attempt - 1) * (1 + spread)
        return delay if delay <= self.max_backoff_s else self.max_backoff_s * (1 - spread)

    def longest_wait_s(self) -> float:
        """The most all waits between ``attempts`` attempts can add up to."""
        return sum(
            min(self.backoff_s * 2.0**i * (1 + self.jitter), self.max_backoff_s)
            for i in range(max(1, self.attempts) - 1)
        )


def json_body(value: Any) -> bytes:
    """Compact UTF-8 JSON: the exact bytes that are sent and signed."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class Sender:
    """Sends ``OutboundRequest``s through ``guard``; one per process, shared (its connections
    are pooled per host name). ``network`` opens the sockets (tests: loopback only);
    ``ssl_context`` checks certificates (default: the public CAs, or ``SSL_CERT_FILE``)."""

    def __init__(
        self,
        guard: Guard,
        *,
        network: Network | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        max_connections: int = 100,
        rng: random.Random | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.guard = guard
        self.max_response_bytes = max_response_bytes
        self._rng = rng if rng is not None else random.Random()
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(),
            max_connections=max_connections,
            keepalive_expiry=30.0,
            network_backend=PinnedConnector(guard, network),
        )

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._pool.aclose()

    async def send(
        self, request: OutboundRequest, *, timeout_s: float, retries: Retries | None = None
    ) -> OutboundResponse:
        """Send ``request``; each attempt gets ``timeout_s``; one attempt unless ``retries``
        says more. Returns the last answer (any status); raises ``OutboundError`` when there
        was none. Refusals are never retried."""
        retries = retries or Retries()
        attempts = max(1, retries.attempts)
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            try:
                response = await self._attempt(request, timeout_s, attempt)
            except Refused as exc:
                log.warning("outbound.refused", host=_host(request.url), reason=str(exc))
                raise OutboundError("refused", str(exc), attempt) from exc
            except (TimeoutError, httpcore.TimeoutException) as exc:
                if last:
                    message = f"no answer within {timeout_s:g} s"
                    raise OutboundError("timeout", message, attempt) from exc
            except Unresolvable as exc:
                if last:
                    raise OutboundError("connection", str(exc)[:300], attempt) from exc
            except (*_NETWORK_ERRORS, OSError) as exc:
                if last:
                    message = f"request failed: {type(exc).__name__}: {exc}"[:300]
                    raise OutboundError("connection", message, attempt) from exc
            else:
                if last or (response.status != 429 and response.status < 500):
                    return response
            await asyncio.sleep(retries.delay_s(attempt, self._rng))
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _attempt(
        self, request: OutboundRequest, timeout_s: float, attempt: int
    ) -> OutboundResponse:
        target = await self.guard.check(request.url)
        url = target.url
        if request.params:
            url = url.copy_merge_params(dict(request.params))
        headers = httpx.Headers({"User-Agent": USER_AGENT})
        headers.update(dict(request.headers))
        headers["Host"] = url.netloc.decode("ascii")
        if request.signing_secrets:
            signed = request.body or (url.query if request.params else b"")
            stamp = int(time.time())
            headers[SIGNATURE_HEADER] = signature_header(request.signing_secrets, stamp, signed)
        if request.idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = request.idempotency_key
        if request.body:
            headers.setdefault("Content-Type", "application/json")
        if request.body or request.method in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(request.body))
        timeouts = {"connect": timeout_s, "read": timeout_s, "write": timeout_s, "pool": timeout_s}
        core_url = httpcore.URL(
            scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
        )
        with pinned(target):
            async with asyncio.timeout(timeout_s):
                async with self._pool.stream(
                    request.method,
                    core_url,
                    headers=headers.raw,
                    content=request.body or None,
                    extensions={"timeout": timeouts},
                ) as response:
                    body, truncated = await self._read(response)
        answer_headers = httpx.Headers(response.headers)
        location = answer_headers.get("location")
        if 300 <= response.status < 400 and location:
            await self._check_redirect(url, location)
        return OutboundResponse(
            status=response.status,
            body=body,
            content_type=answer_headers.get("content-type", ""),
            truncated=truncated,
            attempts=attempt,
        )

    async def _read(self, response: httpcore.Response) -> tuple[bytes, bool]:
        body = bytearray()
        async for chunk in response.aiter_stream():
            body.extend(chunk)
            if len(body) > self.max_response_bytes:
                del body[self.max_response_bytes :]
                return bytes(body), True
        return bytes(body), False

    async def _check_redirect(self, url: httpx.URL, location: str) -> None:
        """Redirects are not followed; one that points at a refused target is reported as a
        refusal, so a receiver cannot use it to reach an internal address through a client
        that would follow it."""
        try:
            await self.guard.check(url.join(location))
        except (Refused, httpx.InvalidURL) as exc:
            raise Refused(f"redirected to a refused target: {exc}") from exc
        except Unresolvable:
            pass  # it leads nowhere; the 3xx itself is the answer


def _host(url: str) -> str:
    try:
        return httpx.URL(url).host
    except httpx.InvalidURL:
        return "(invalid URL)"
