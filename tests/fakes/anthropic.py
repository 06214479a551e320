"""A fake Anthropic Messages API: ``POST /v1/messages`` streamed as server-sent events.

Events follow PROTOCOLS 6: message_start, ping, then per block content_block_start (text blocks
too, unlike Bedrock), content_block_delta (``text_delta`` or ``input_json_delta``),
content_block_stop, then message_delta (stop_reason, usage) and message_stop. It checks
the key (``x-api-key``, or ``Authorization: Bearer`` as SDK 2.x sends it) and that
``anthropic-version`` is 2023-06-01, the version whose stream it reproduces; a scripted fault
sends an ``error`` event mid-stream.

Run alone: ``python tests/fakes/anthropic.py --port 9003 --first-token-ms 300``
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

if __name__ == "__main__":
    # Run as a script: import ``tests`` from the repository root, not this directory, where
    # this file would shadow the vendor SDK of the same name.
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from tests.fakes.llm_server import (
    DeltaPacer,
    FakeLlmServer,
    HttpError,
    Reply,
    parse_cli,
    serve_forever,
)

API_VERSION = "2023-06-01"
DEFAULT_API_KEY = "sk-ant-test"
# What each error type says, for in-stream ``error`` events.
ERROR_MESSAGES = {
    "overloaded_error": "Overloaded",
    "api_error": "Internal server error",
    "rate_limit_error": "Number of requests has exceeded your rate limit.",
}


class FakeAnthropic(FakeLlmServer):
    """The Messages API, accepting only ``api_key`` (``sk-ant-test`` by default)."""

    def __init__(
        self, *, port: int = 0, default: Reply | None = None, api_key: str = DEFAULT_API_KEY
    ) -> None:
        super().__init__(port=port, default=default)
        self.api_key = api_key

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/messages", self._messages)]

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        recorded = await self.record(request)
        body = recorded.body if isinstance(recorded.body, dict) else {}
        recorded.model = str(body.get("model", ""))
        problem = self._problem(recorded.headers, recorded.body)
        scripted = problem or self.next_reply(recorded.model)
        if isinstance(scripted, HttpError):
            return error_response(scripted)
        if not body.get("tools") or (body.get("tool_choice") or {}).get("type") == "none":
            scripted = scripted.without_tools()  # no tool may be called: words only
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "request-id": f"req_{uuid.uuid4().hex}"}
        )
        return await self.stream(request, response, message_events(scripted, recorded.model))

    def _problem(self, headers: dict[str, str], body: Any) -> HttpError | None:
        # The documented header, or the bearer form newer SDKs send.
        keys = (headers.get("x-api-key"), headers.get("authorization", "").removeprefix("Bearer "))
        if self.api_key not in keys:
            return HttpError(401, "authentication_error", "invalid x-api-key")
        version = headers.get("anthropic-version")
        if version is None:
            return HttpError(400, "invalid_request_error", "anthropic-version: header is required")
        if version != API_VERSION:
            # Another version may stream another format than the one this fake reproduces.
            return HttpError(
                400,
                "invalid_request_error",
                f"anthropic-version: {version!r} is not served by this fake; use {API_VERSION}",
            )
        if not isinstance(body, dict):
            return HttpError(400, "invalid_request_error", "The request body is not valid JSON.")
        for name in ("model", "max_tokens", "messages"):
            if name not in body:
                return HttpError(400, "invalid_request_error", f"{name}: Field required")
        if body.get("stream") is not True:
            return HttpError(400, "invalid_request_error", "this fake only serves stream: true")
        return None


def error_response(error: HttpError) -> web.Response:
    """An API error as Anthropic sends it: the status and an ``error`` object."""
    body = {"type": "error", "error": {"type": error.error_type, "message": error.message}}
    return web.json_response(
        body, status=error.status, headers={"request-id": f"req_{uuid.uuid4().hex}"}
    )


def sse(event: str, data: dict[str, Any]) -> bytes:
    """One server-sent event with its name on the ``event:`` line."""
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def message_events(reply: Reply, model: str) -> Iterator[tuple[float, bytes]]:
    """The reply's SSE events with the delay (ms) before each."""
    pacer = DeltaPacer(reply)
    message: dict[str, Any] = {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": model,
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": reply.input_tokens, "output_tokens": 1},
    }
    yield 0.0, sse("message_start", {"type": "message_start", "message": message})
    yield 0.0, sse("ping", {"type": "ping"})
    blocks: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    if reply.text:
        text_deltas = [{"type": "text_delta", "text": piece} for piece in reply.text_deltas()]
        blocks.append(({"type": "text", "text": ""}, text_deltas))
    for tool in reply.tools:
        tool_block = {
            "type": "tool_use",
            "id": tool.id or f"toolu_{uuid.uuid4().hex[:24]}",
            "name": tool.name,
            "input": {},
        }
        json_deltas = [
            {"type": "input_json_delta", "partial_json": piece}
            for piece in reply.tool_fragments(tool)
        ]
        blocks.append((tool_block, json_deltas))
    for index, (block, deltas) in enumerate(blocks):
        start = {"type": "content_block_start", "index": index, "content_block": block}
        yield 0.0, sse("content_block_start", start)
        for delta in deltas:
            if pacer.fault_due:
                yield 0.0, _fault(reply)
                return
            event = {"type": "content_block_delta", "index": index, "delta": delta}
            yield pacer.next_delay_ms(), sse("content_block_delta", event)
        yield 0.0, sse("content_block_stop", {"type": "content_block_stop", "index": index})
    if pacer.fault_due:
        yield 0.0, _fault(reply)
        return
    stop = {"stop_reason": _stop_reason(reply.final_stop_reason), "stop_sequence": None}
    usage = {"output_tokens": reply.output_tokens}
    yield 0.0, sse("message_delta", {"type": "message_delta", "delta": stop, "usage": usage})
    yield 0.0, sse("message_stop", {"type": "message_stop"})


def _stop_reason(bedrock_name: str) -> str:
    return "refusal" if bedrock_name == "content_filtered" else bedrock_name


def _fault(reply: Reply) -> bytes:
    error_type = reply.fail_with or "overloaded_error"
    message = ERROR_MESSAGES.get(error_type, "The request failed.")
    return sse("error", {"type": "error", "error": {"type": error_type, "message": message}})


def main(argv: Sequence[str] | None = None) -> None:
    """Serve a fake Anthropic API until interrupted; prints its URL."""
    options = parse_cli("A fake Anthropic Messages API (streaming).", argv, api_key=True)
    fake = FakeAnthropic(
        port=options.port, default=options.reply, api_key=options.api_key or DEFAULT_API_KEY
    )
    asyncio.run(serve_forever(fake))


if __name__ == "__main__":
    main()
