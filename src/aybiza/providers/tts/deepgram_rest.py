"""Deepgram's REST text-to-speech (``POST /v1/speak``, PROTOCOLS.md 4.1) and its URLs.

The response body is headerless μ-law 8 kHz (``container=none``), ready for Twilio as is, and is
streamed: the first bytes can be played before synthesis ends.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from urllib.parse import urlsplit, urlunsplit

import httpx

from aybiza.providers.errors import (
    AuthenticationError,
    EngineError,
    EngineUnavailableError,
    status_error,
)

ENGINE = "deepgram"
# Deepgram refuses a key that lacks the permission with 403: the credentials are at fault.
DEEPGRAM_STATUSES = {403: AuthenticationError}
_WEBSOCKET_SCHEMES = {"https": "wss", "http": "ws", "wss": "wss", "ws": "ws"}
_HTTP_SCHEMES = {"https": "https", "http": "http", "wss": "https", "ws": "http"}


def base_urls(base_url: str) -> tuple[str, str]:
    """``(websocket_base, http_base)`` for one Deepgram address given with any of the
    ``https``, ``http``, ``wss`` or ``ws`` schemes (``https`` pairs with ``wss``)."""
    parts = urlsplit(base_url.rstrip("/"))
    if parts.scheme not in _HTTP_SCHEMES or not parts.netloc:
        raise ValueError(
            f"base_url must be an https://, http://, wss:// or ws:// URL, got {base_url!r}"
        )
    return (
        urlunsplit(parts._replace(scheme=_WEBSOCKET_SCHEMES[parts.scheme])),
        urlunsplit(parts._replace(scheme=_HTTP_SCHEMES[parts.scheme])),
    )


class SpeakRestClient:
    """REST synthesis through one ``httpx.AsyncClient``, created on first use and shared by
    every call of the engine that owns this client."""

    def __init__(self, api_key: str, http_base: str, *, timeout_s: float) -> None:
        self._api_key = api_key
        self._url = http_base + "/v1/speak"
        self._timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None
        self._closed = False

    def prepare(self) -> None:
        """Create the HTTP client (its TLS context takes tens of milliseconds) now, at
        start-up, rather than on the first call's greeting."""
        self._http()

    def _http(self) -> httpx.AsyncClient:
        if self._closed:
            raise EngineUnavailableError(ENGINE, "the engine is closed; create a new one")
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout_s)
        return self._client

    async def stream(self, text: str, model: str) -> AsyncGenerator[bytes, None]:
        """μ-law 8 kHz chunks of ``text`` spoken by ``model``, as they arrive.

        Raises ``AuthenticationError``, ``InvalidRequestError``, ``ThrottledError`` or
        ``EngineUnavailableError``; closing the generator aborts the request.
        """
        params = {"model": model, "encoding": "mulaw", "sample_rate": "8000", "container": "none"}
        headers = {"Authorization": f"Token {self._api_key}"}
        try:
            async with self._http().stream(
                "POST", self._url, params=params, headers=headers, json={"text": text}
            ) as response:
                if response.status_code != 200:
                    raise _status_error(response.status_code, await response.aread(), response)
                async for chunk in response.aiter_bytes():
                    if chunk:
                        yield chunk
        except httpx.HTTPError as exc:
            raise EngineUnavailableError(ENGINE, f"REST speak request failed: {exc!r}") from exc

    async def synthesize(self, text: str, model: str) -> bytes:
        """The whole of ``text`` as μ-law 8 kHz bytes."""
        return b"".join([chunk async for chunk in self.stream(text, model)])

    async def aclose(self) -> None:
        """Close the HTTP client. Idempotent; later requests raise ``EngineUnavailableError``."""
        self._closed = True
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


def _status_error(status: int, body: bytes, response: httpx.Response) -> EngineError:
    detail = response.headers.get("dg-error") or _error_text(body)
    message = f"REST speak refused with HTTP {status}: {detail}"
    return status_error(ENGINE, status, message, overrides=DEEPGRAM_STATUSES)


def _error_text(body: bytes) -> str:
    """Deepgram's ``err_msg`` from a JSON error body, else the start of the body."""
    try:
        payload = json.loads(body)
    except ValueError:
        return body.decode(errors="replace")[:200]
    if isinstance(payload, dict):
        for key in ("err_msg", "message", "reason"):
            if isinstance(payload.get(key), str):
                return str(payload[key])
    return body.decode(errors="replace")[:200]
