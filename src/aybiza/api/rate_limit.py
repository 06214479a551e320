"""Requests are rate-limited per source address and, on the API, per API key: 429 with
``Retry-After`` (whole seconds) and the JSON error body.

Every HTTP request counts against its source address (the client address as the server sees
it: behind a proxy that uvicorn trusts, the forwarded one), except the probes ``/healthz``,
``/readyz`` and ``/metrics``. API requests with a bearer token also count against the token,
whether or not it turns out valid: the limit applies before any database lookup. Tokens are
counted by a hash, never by the token itself.
"""

from __future__ import annotations

import hashlib
import math

from prometheus_client import Counter
from starlette.types import ASGIApp, Receive, Scope, Send

from aybiza.api.body_limits import API_PREFIX
from aybiza.api.errors import error_response
from aybiza.api.rate_buckets import Bucket, RateBuckets

PROBES = frozenset({"/healthz", "/readyz", "/metrics"})
RATE_LIMITED = Counter(
    "aybiza_rate_limited_total", "Requests refused with 429, by limit.", ["limit"]
)


class RateLimit:
    """The ASGI middleware; ``key_per_min`` / ``address_per_min`` of 0 turn a limit off."""

    def __init__(
        self, app: ASGIApp, buckets: RateBuckets, *, key_per_min: int, address_per_min: int
    ) -> None:
        self.app = app
        self.buckets = buckets
        self.key_per_min = key_per_min
        self.address_per_min = address_per_min

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PROBES:
            await self.app(scope, receive, send)
            return
        wanted = self._buckets(scope)
        verdict = await self.buckets.take(wanted) if wanted else None
        if verdict is None or verdict.refused_by is None:
            await self.app(scope, receive, send)
            return
        limit = "api_key" if verdict.refused_by.key.startswith("key:") else "address"
        RATE_LIMITED.labels(limit).inc()
        wait_s = max(1, math.ceil(verdict.retry_after_s))
        who = "this API key" if limit == "api_key" else "this address"
        response = error_response(
            429,
            "rate_limited",
            f"too many requests from {who} (at most {verdict.refused_by.per_min} a minute); "
            f"retry after {wait_s} s",
            "Authorization" if limit == "api_key" else None,
            headers={"Retry-After": str(wait_s)},
        )
        await response(scope, receive, send)

    def _buckets(self, scope: Scope) -> list[Bucket]:
        wanted: list[Bucket] = []
        if self.address_per_min > 0:
            client = scope.get("client")
            address = client[0] if client else "unknown"
            wanted.append(Bucket(f"address:{address}", self.address_per_min))
        if self.key_per_min > 0 and scope["path"].startswith(API_PREFIX):
            token = _bearer(scope)
            if token:
                digest = hashlib.sha256(token).hexdigest()[:32]
                wanted.append(Bucket(f"key:{digest}", self.key_per_min))
        return wanted


def _bearer(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            if scheme.lower() == b"bearer" and token.strip():
                return bytes(token.strip())
    return None
