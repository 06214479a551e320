"""Signed outbound HTTP requests on a tenant's behalf (HTTP tools and workflow steps).

Each attempt is checked by the SSRF guard, pinned to the checked address, signed like the
platform's webhooks (``AYBIZA-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">``)
and bounded by a timeout. Attempts are repeated with exponential backoff only when the caller
says the request is safe to repeat (``attempts`` > 1); redirects are never followed.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from aybiza.automation.netguard import RefusedDestination, resolve_target
from aybiza.security.signing import SIGNATURE_HEADER, signature_header

USER_AGENT = "AYBIZA-Automation/1"
IDEMPOTENCY_HEADER = "Idempotency-Key"
# Bytes of a response read at most; the rest is dropped unread.
MAX_RESPONSE_BYTES = 256_000
# Characters of a response body handed back to a model.
MAX_MODEL_CHARS = 4_000
FailureKind = Literal["refused", "timeout", "connection", "status"]


@dataclass(frozen=True, slots=True)
class OutboundRequest:
    """What to send. ``body`` is signed as is; without a body (GET) the arguments travel in
    ``params`` and the query string is what is signed."""

    method: str
    url: str
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    signing_secret: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class OutboundResponse:
    """What came back from the last attempt."""

    status: int
    body: bytes
    content_type: str
    truncated: bool
    attempts: int
    address: str | None = None

    @property
    def ok(self) -> bool:
        """True for a 2xx answer."""
        return 200 <= self.status < 300


class OutboundError(Exception):
    """No usable answer: refused by the SSRF guard, timed out, no connection, or (when the
    attempts ran out on a retryable status) the last status."""

    def __init__(self, kind: FailureKind, message: str, attempts: int) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.attempts = attempts


def json_body(value: Any) -> bytes:
    """Compact UTF-8 JSON: the exact bytes that are sent and signed."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


async def send(
    client: httpx.AsyncClient,
    request: OutboundRequest,
    *,
    timeout_s: float,
    allow_private: bool,
    attempts: int = 1,
    backoff_s: float = 0.25,
) -> OutboundResponse:
    """Send ``request``; retry timeouts, connection failures, 429 and 5xx up to ``attempts``."""
    attempts = max(1, attempts)
    for attempt in range(1, attempts + 1):
        last = attempt == attempts
        try:
            response = await _attempt(client, request, timeout_s, allow_private, attempt)
        except RefusedDestination as exc:
            raise OutboundError("refused", str(exc), attempt) from exc
        except (TimeoutError, httpx.TimeoutException) as exc:
            if last:
                message = f"no answer within {timeout_s:g} s"
                raise OutboundError("timeout", message, attempt) from exc
        except httpx.HTTPError as exc:
            if last:
                message = f"request failed: {type(exc).__name__}: {exc}"[:300]
                raise OutboundError("connection", message, attempt) from exc
        else:
            if response.status != 429 and response.status < 500:
                return response
            if last:
                return response
        await asyncio.sleep(backoff_s * 2 ** (attempt - 1))
    raise AssertionError("unreachable: the last attempt returns or raises")


async def _attempt(
    client: httpx.AsyncClient,
    request: OutboundRequest,
    timeout_s: float,
    allow_private: bool,
    attempt: int,
) -> OutboundResponse:
    target = await resolve_target(request.url, allow_private=allow_private)
    headers = {"User-Agent": USER_AGENT, **request.headers, **target.headers}
    url = target.url.copy_merge_params(request.params) if request.params else target.url
    if request.signing_secret is not None:
        signed = request.body or (url.query if request.params else b"")
        headers[SIGNATURE_HEADER] = signature_header(
            [request.signing_secret], int(time.time()), signed
        )
    if request.idempotency_key is not None:
        headers[IDEMPOTENCY_HEADER] = request.idempotency_key
    if request.body:
        headers.setdefault("Content-Type", "application/json")
    async with asyncio.timeout(timeout_s):
        async with client.stream(
            request.method,
            url,
            content=request.body or None,
            headers=headers,
            extensions=target.extensions or None,
            timeout=timeout_s,
        ) as response:
            body = bytearray()
            truncated = False
            async for chunk in response.aiter_bytes():
                body.extend(chunk)
                if len(body) > MAX_RESPONSE_BYTES:
                    truncated = True
                    del body[MAX_RESPONSE_BYTES:]
                    break
    return OutboundResponse(
        status=response.status_code,
        body=bytes(body),
        content_type=response.headers.get("content-type", ""),
        truncated=truncated,
        attempts=attempt,
        address=target.address,
    )


def response_content(
    response: OutboundResponse, limit_chars: int = MAX_MODEL_CHARS
) -> dict[str, Any]:
    """The answer as a model (or a workflow's later steps) should see it: ``status`` and the
    parsed JSON as ``data``, or the text as ``text``; a long body is cut to ``limit_chars``
    characters with ``truncated`` and a note saying so."""
    content: dict[str, Any] = {"status": response.status}
    text = response.body.decode("utf-8", errors="replace")
    if len(text) <= limit_chars and not response.truncated:
        try:
            content["data"] = json.loads(text) if text.strip() else None
        except ValueError:
            content["text"] = text
        return content
    content["text"] = text[:limit_chars]
    content["truncated"] = True
    size = f"more than {MAX_RESPONSE_BYTES}" if response.truncated else str(len(response.body))
    content["note"] = (
        f"the response body was {size} bytes; only its first {limit_chars} characters are shown"
    )
    return content
