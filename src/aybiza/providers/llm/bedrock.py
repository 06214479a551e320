"""Claude on Amazon Bedrock (``ConverseStream``) as an ``LlmEngine``, spoken directly over aiohttp.

Each answer is one ``POST /model/{modelId}/converse-stream``: the body is the JSON botocore's
rest-json serializer would send (byte for byte), signed by botocore's own signer
(``bedrock_signing``), and the response is AWS event-stream frames cut by botocore's
``EventStreamBuffer`` (``bedrock_stream``). Neither botocore's client nor aiobotocore is on the
answer's path: their per-request pipeline (parameter validation, endpoint rules, user agent,
event hooks, the response parser's shape walk for every event) measured about 6 % of the event
loop at 80 calls. What botocore resolves per client (endpoint, credentials, CA bundle) is
resolved once per engine (``prepare``, at start-up in a worker thread).

One ``aiohttp.ClientSession`` per engine, created on first use inside the running event loop,
keeps connections alive between answers, so answers after the first skip the TCP and TLS
handshakes. There are no retries: the conversation engine decides whether to retry, wait or fail
over to another model.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import aiohttp
from yarl import URL

from aybiza.providers.base import LlmEvent, LlmRequest, Message
from aybiza.providers.llm.bedrock_errors import (
    BEDROCK_FAILURES,
    bedrock_error,
    response_error,
)
from aybiza.providers.llm.bedrock_models import bedrock_model_id
from aybiza.providers.llm.bedrock_signing import BedrockTarget, resolve_target, signed_headers
from aybiza.providers.llm.bedrock_stream import ConverseAnswer, converse_events
from aybiza.providers.llm.http_proxy import environment_proxy
from aybiza.providers.llm.prompting import (
    claude_turns,
    request_system_prompt,
    tool_blocks_as_text,
)

CONNECT_TIMEOUT_S = 3.0
# Longest silence allowed between two reads of the stream, including the wait for the first
# token of a long prompt.
READ_TIMEOUT_S = 30.0
# Every answer being streamed holds one pooled connection; a process serves hundreds of calls.
MAX_CONNECTIONS = 1000
# An idle connection older than this is closed rather than reused; Bedrock's front end closes
# idle keep-alive connections too.
KEEPALIVE_S = 15.0


class BedrockLlm:
    """An ``LlmEngine`` on Bedrock ``ConverseStream``, shared by every call in the process.

    ``region`` picks the endpoint and the inference-profile prefix of Claude models;
    ``endpoint_url`` (``AYBIZA_BEDROCK_ENDPOINT_URL``) overrides the endpoint, for VPC
    endpoints and fakes. Credentials come from the normal AWS chain, or a Bedrock bearer token
    in ``AWS_BEARER_TOKEN_BEDROCK``.
    """

    name = "bedrock"
    is_scripted = False

    def __init__(self, *, region: str, endpoint_url: str | None = None) -> None:
        self._region = region
        self._endpoint_url = endpoint_url
        self._lock = asyncio.Lock()
        self._target: BedrockTarget | None = None
        self._connector_args: dict[str, Any] = {}
        self._proxy: str | None = None
        self._session: aiohttp.ClientSession | None = None
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=CONNECT_TIMEOUT_S, sock_read=READ_TIMEOUT_S
        )

    @property
    def region(self) -> str:
        """The AWS region the engine calls."""
        return self._region

    @property
    def prepared(self) -> bool:
        """Whether the endpoint and credentials are resolved (``prepare``)."""
        return self._target is not None

    def open_session(self, call_id: str) -> BedrockSession:
        """A session for one call; it holds no state of its own between answers."""
        return BedrockSession(self, call_id)

    async def prepare(self) -> BedrockTarget:
        """The endpoint and credentials every answer uses, resolved through botocore on first
        use (in a worker thread: it loads botocore's service model and may call a credential
        endpoint). The registry calls it at start-up."""
        if self._target is not None:
            return self._target
        async with self._lock:
            if self._target is None:
                target, ssl_context = await asyncio.to_thread(
                    resolve_target, self._region, self._endpoint_url
                )
                self._connector_args = {"ssl": ssl_context}
                self._proxy = environment_proxy(target.endpoint_url)
                self._target = target
        return self._target

    async def send(self, model_id: str, body: bytes) -> aiohttp.ClientResponse:
        """Post a signed ``ConverseStream`` request; returns once the response headers came.
        The caller reads the body and must close (or release) the response."""
        target = await self.prepare()
        url = target.converse_stream_url(model_id)
        headers = await signed_headers(target, url, body)
        session = self._session
        if session is None or session.closed:
            session = self._session = self._new_session()
        # Sent as encoded: yarl would otherwise turn the model id's ``%3A`` back into ``:``, and
        # the path would no longer be the one signed.
        return await session.post(
            URL(url, encoded=True), data=body, headers=headers, allow_redirects=False
        )

    def _new_session(self) -> aiohttp.ClientSession:
        """The session and its pool; aiohttp binds them to the running event loop."""
        connector = aiohttp.TCPConnector(
            limit=MAX_CONNECTIONS,
            limit_per_host=0,
            keepalive_timeout=KEEPALIVE_S,
            **self._connector_args,
        )
        return aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            proxy=self._proxy,
            cookie_jar=aiohttp.DummyCookieJar(),  # botocore keeps no cookies either
        )

    async def aclose(self) -> None:
        """Close the connections. Idempotent; a later answer opens new ones."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()


class BedrockSession:
    """Answers for one call; each ``respond`` is one ``ConverseStream`` request."""

    def __init__(self, engine: BedrockLlm, call_id: str) -> None:
        self._engine = engine
        self.call_id = call_id

    async def respond(self, request: LlmRequest) -> AsyncGenerator[LlmEvent, None]:
        """Stream one answer. Closing or cancelling the consumer closes the HTTP stream."""
        arguments = converse_stream_arguments(request, self._engine.region)
        model_id = arguments.pop("modelId")
        # As botocore's rest-json serializer writes it (``json.dumps``' defaults).
        body = json.dumps(arguments).encode()
        started = time.monotonic()
        try:
            response = await self._engine.send(model_id, body)
        except BEDROCK_FAILURES as exc:
            raise bedrock_error(exc) from exc
        answer = ConverseAnswer()
        try:
            if response.status >= 300:
                raise response_error(response.status, response.headers, await response.read())
            async with aclosing(converse_events(response.content.iter_any())) as events:
                async for event_type, payload in events:
                    for item in answer.add(event_type, payload):
                        yield item
        except BEDROCK_FAILURES as exc:
            raise bedrock_error(exc) from exc
        finally:
            # A body read to its end has already returned the connection to the pool; else
            # this drops it at once: a barge-in must not leave the model talking.
            response.close()
        yield answer.end(started)


def converse_stream_arguments(request: LlmRequest, region: str) -> dict[str, Any]:
    """The keyword arguments of ``converse_stream`` for ``request``.

    ``toolChoice`` has no "none": a request that allows no tool call leaves ``toolConfig`` out,
    so the model cannot call one, and writes the turn's tool blocks as text, since Bedrock
    refuses tool blocks without ``toolConfig``."""
    tools_closed = request.tool_choice == "none"
    turns = claude_turns(request.messages)
    if tools_closed:
        turns = claude_turns(tool_blocks_as_text(turns))
    arguments: dict[str, Any] = {
        "modelId": bedrock_model_id(request.model, region),
        "messages": [{"role": turn.role, "content": _content(turn)} for turn in turns],
        "inferenceConfig": {"maxTokens": request.max_tokens, "temperature": request.temperature},
    }
    system = request_system_prompt(request)
    if system.strip():
        arguments["system"] = [{"text": system}]
    if request.tools and not tools_closed:
        arguments["toolConfig"] = {
            "tools": [
                {
                    "toolSpec": {
                        "name": tool.name,
                        "description": tool.description,
                        "inputSchema": {"json": tool.input_schema},
                    }
                }
                for tool in request.tools
            ]
        }
    return arguments


def _content(message: Message) -> list[dict[str, Any]]:
    # Tool results answer the previous assistant turn, so they come before the caller's words.
    blocks: list[dict[str, Any]] = [
        {
            "toolResult": {
                "toolUseId": result.tool_call_id,
                "content": [{"json": result.content}],
                "status": "error" if result.is_error else "success",
            }
        }
        for result in message.tool_results
    ]
    if message.text.strip():
        blocks.append({"text": message.text})
    blocks.extend(
        {"toolUse": {"toolUseId": call.id, "name": call.name, "input": call.arguments}}
        for call in message.tool_calls
    )
    return blocks
