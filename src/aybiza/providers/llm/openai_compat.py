"""Any OpenAI-compatible chat server (Ollama, vLLM, llama.cpp, OpenAI) as an ``LlmEngine``.

Speaks OpenAI's documented Chat Completions streaming format directly: ``POST
{base_url}/chat/completions`` with ``stream: true``, answered by server-sent events whose ``data``
is one ``chat.completion.chunk`` JSON object each, then ``data: [DONE]``. The ``openai`` SDK is
not used: every turn of every call makes one such request, and the SDK's request transforms,
per-chunk pydantic models and stream plumbing measured about 2.5 ms of CPU per short streamed
answer against about 0.25 ms here (``json`` on plain dicts), a large share of a call's CPU on the
event loop.

The transport is ``aiohttp``, not ``httpx``: on every request and every release, httpcore's pool
walks all its connections, with a ``poll`` system call per idle one to see whether it expired and,
for each idle one, another pass over the whole pool (httpcore 1.0's surplus-idle check), so its
cost grows with the square of the pool. With a hundred idle keep-alive connections (what a
burst of concurrent answers leaves) that measured about 8 ms of CPU per streamed answer, and 21 %
of the event loop's busy time at 200 concurrent calls; aiohttp hands out an idle connection per
host from a deque, about 0.2 ms per answer there (0.8 ms on httpx with a one-connection pool).

One ``aiohttp.ClientSession`` per engine, created on first use inside the running event loop
(the engine is built at start-up, possibly before it), keeps HTTP/1.1 connections alive between
answers. Redirects are not followed and there are no retries: the conversation engine decides
about retries and failover. As under httpx, servers are trusted by certifi's CA bundle (or
``SSL_CERT_FILE``/``SSL_CERT_DIR``) and ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY``/``NO_PROXY``
are honoured. Tool calls are assembled from their ``function.arguments`` fragments and emitted
when the choice finishes. ``AnswerEnd.latency_ms`` is measured here, from sending the request to
the last chunk.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp
import httpx

from aybiza.providers.base import (
    LlmEvent,
    LlmRequest,
)
from aybiza.providers.errors import (
    EngineError,
    EngineTimeoutError,
    EngineUnavailableError,
    InvalidRequestError,
    ModelStreamError,
    status_error,
)
from aybiza.providers.llm.http_proxy import environment_proxy
from aybiza.providers.llm.openai_wire import (
    ENGINE,
    MAX_ERROR_TEXT,
    Answer,
    chat_messages,
    error_text,
    parse_chunk,
    stream_error_message,
)
from aybiza.providers.llm.sse import SseDecoder

# Name resolution, TCP connect and TLS handshake of a new connection.
CONNECT_TIMEOUT_S = 3.0
# Longest wait for the response headers, then between two reads of the body. Self-hosted models
# on modest hardware can take long to start answering a long prompt.
READ_TIMEOUT_S = 60.0
# After ``[DONE]`` the rest of the body (the chunked-encoding terminator) is read so the
# connection can serve the next answer; a server that holds the stream open gets this long.
DRAIN_TIMEOUT_S = 0.1
# Connections are per answer being streamed, kept alive between answers.
MAX_CONNECTIONS = 1000
# An idle connection older than this is closed rather than reused (httpx's keep-alive expiry):
# servers close idle ones too (uvicorn, so vLLM, after 5 s), and reusing one they are closing
# fails the answer.
KEEPALIVE_S = 5.0
# Longest part of a non-JSON error body quoted in an error message.
# What a request that gets no (complete) HTTP answer raises: aiohttp's connection, protocol and
# payload errors, and its timeouts, which are ``TimeoutError``s (not all of them ClientErrors).
TRANSPORT_ERRORS = (aiohttp.ClientError, TimeoutError)


class OpenAICompatibleLlm:
    """An ``LlmEngine`` on an OpenAI-compatible server at ``base_url`` (``.../v1``).

    ``api_key`` may be None for servers that need none (Ollama, llama.cpp); a placeholder bearer
    token is sent then, as some servers insist on the header. The agent's ``model`` must name a
    model the server serves (``llama3.1:8b``).
    """

    name = "openai"
    is_scripted = False

    def __init__(self, *, base_url: str, api_key: str | None = None) -> None:
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._headers = {
            "Authorization": f"Bearer {api_key or 'unused'}",
            "Content-Type": "application/json",
            "Accept": "text/event-stream",
        }
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=CONNECT_TIMEOUT_S, sock_read=READ_TIMEOUT_S
        )
        # Built here, at start-up: loading the CA bundle is blocking file I/O.
        self._ssl = httpx.create_ssl_context()
        self._ssl.set_alpn_protocols(["http/1.1"])
        self._proxy = environment_proxy(self._url)
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def open_session(self, call_id: str) -> OpenAICompatibleSession:
        """A session for one call; it holds no state of its own between answers."""
        return OpenAICompatibleSession(self, call_id)

    async def aclose(self) -> None:
        """Close the client's connections."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def send(self, body: dict[str, Any]) -> aiohttp.ClientResponse:
        """Post ``body`` and return the response once its headers arrived; the caller reads
        the body and must close (or release) the response."""
        if self._closed:
            raise EngineUnavailableError(ENGINE, "the engine is closed; create a new one")
        session = self._session
        if session is None:
            session = self._session = self._new_session()
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        return await session.post(
            self._url, data=content, headers=self._headers, allow_redirects=False
        )

    def _new_session(self) -> aiohttp.ClientSession:
        """The session and its pool; aiohttp binds them to the running event loop."""
        connector = aiohttp.TCPConnector(
            limit=MAX_CONNECTIONS,
            limit_per_host=0,
            keepalive_timeout=KEEPALIVE_S,
            ssl=self._ssl,
        )
        return aiohttp.ClientSession(connector=connector, timeout=self._timeout, proxy=self._proxy)


class OpenAICompatibleSession:
    """Answers for one call; each ``respond`` is one streamed chat completion."""

    def __init__(self, engine: OpenAICompatibleLlm, call_id: str) -> None:
        self._engine = engine
        self.call_id = call_id

    async def respond(self, request: LlmRequest) -> AsyncGenerator[LlmEvent, None]:
        """Stream one answer. Closing or cancelling the consumer closes the HTTP stream."""
        if not request.model.strip():
            raise InvalidRequestError(
                ENGINE,
                "the agent's model is empty: name a model the server serves (e.g. llama3.1:8b)",
            )
        body: dict[str, Any] = {
            "model": request.model,
            "messages": chat_messages(request),
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": tool.input_schema,
                    },
                }
                for tool in request.tools
            ]
            if request.tool_choice == "none":
                body["tool_choice"] = "none"
        started = time.monotonic()
        try:
            response = await self._engine.send(body)
        except TRANSPORT_ERRORS as exc:
            raise transport_error(exc) from exc
        try:
            if not 200 <= response.status < 300:
                error_body = await response.read()
                raise _status_error(response.status, response.reason or "", error_body)
            answer = Answer()
            decoder = SseDecoder()
            done = False
            async for data in response.content.iter_any():
                for event in decoder.feed(data):
                    if event.event != "message":
                        if event.event == "error":
                            raise ModelStreamError(ENGINE, stream_error_message(event.data))
                        continue  # a named event a chat stream does not define (a ping)
                    if event.data.startswith("[DONE]"):
                        done = True
                        break
                    if event.data:
                        for item in answer.add(parse_chunk(event.data)):
                            yield item
                if done:
                    break
            ending = answer.finish(started)
            if done:
                await _drain(response)
        except TRANSPORT_ERRORS as exc:
            raise transport_error(exc) from exc
        finally:
            # A body read to its end has already returned the connection to the pool; else
            # this drops it at once: a barge-in must not leave the model talking.
            response.close()
        for item in ending:
            yield item


async def _drain(response: aiohttp.ClientResponse) -> None:
    """Read what follows ``[DONE]`` (normally only the end of the body) for a while, so the
    connection returns to the pool instead of being closed."""
    if response.content.at_eof():
        return  # the end came with ``[DONE]``: the connection is back in the pool already
    try:
        async with asyncio.timeout(DRAIN_TIMEOUT_S):
            async for _ in response.content.iter_any():
                pass
    except TRANSPORT_ERRORS:
        pass  # the answer is complete; closing the response drops the connection instead


def transport_error(exc: aiohttp.ClientError | TimeoutError) -> EngineError:
    """The typed error for a request that got no (complete) HTTP answer."""
    # aiohttp's timeouts (``ConnectionTimeoutError``, ``SocketTimeoutError``) are TimeoutErrors.
    if isinstance(exc, TimeoutError):
        return EngineTimeoutError(ENGINE, "no answer from the server in time")
    return EngineUnavailableError(
        ENGINE, f"could not reach the server: {str(exc) or type(exc).__name__}"
    )


def _status_error(status: int, reason: str, body: bytes) -> EngineError:
    """The typed error for an HTTP status other than 2xx, with the server's message."""
    message = f"{status}: {error_body_message(body) or reason or 'no reason given'}"
    return status_error(ENGINE, status, message)


def error_body_message(body: bytes) -> str:
    """What an error body says: OpenAI's ``{"error": {"message"}}``, Ollama's ``{"error": "..."}``,
    older vLLM's ``{"message"}``; else the start of the body as text."""
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        text = error_text(payload.get("error")) or error_text(payload)
        if text:
            return text
    return body.decode("utf-8", "replace").strip()[:MAX_ERROR_TEXT]
