"""A fake OpenAI-compatible server (Ollama, vLLM, llama.cpp): ``POST /v1/chat/completions``.

Streams ``data: {chat.completion.chunk}`` events: a role chunk, content deltas, tool-call deltas
(the first with id, type and name, then ``function.arguments`` fragments), a chunk with
``finish_reason``, a usage chunk with no choices when ``stream_options.include_usage`` is set,
then ``data: [DONE]``. Errors are ``{"error": {message, type, param, code}}``.

Run alone: ``python tests/fakes/openai.py --port 9004 --first-token-ms 300``
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
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

# Bedrock's stop reasons (what replies are scripted in) -> OpenAI's finish_reason.
FINISH_REASONS = {
    "end_turn": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "content_filtered": "content_filter",
}


class FakeOpenAI(FakeLlmServer):
    """Chat completions; with ``api_key`` set it requires ``Authorization: Bearer <key>``."""

    def __init__(
        self, *, port: int = 0, default: Reply | None = None, api_key: str | None = None
    ) -> None:
        super().__init__(port=port, default=default)
        self.api_key = api_key

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/chat/completions", self._chat_completions)]

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        recorded = await self.record(request)
        body = recorded.body if isinstance(recorded.body, dict) else {}
        recorded.model = str(body.get("model", ""))
        problem = self._problem(recorded.headers, recorded.body)
        scripted = problem or self.next_reply(recorded.model)
        if isinstance(scripted, HttpError):
            return error_response(scripted)
        if not body.get("tools") or body.get("tool_choice") == "none":
            scripted = scripted.without_tools()  # no tool may be called: words only
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        chunks = completion_chunks(scripted, recorded.model, include_usage)
        return await self.stream(request, response, chunks)

    def _problem(self, headers: dict[str, str], body: Any) -> HttpError | None:
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            return HttpError(401, "invalid_api_key", "Incorrect API key provided.")
        if not isinstance(body, dict):
            return HttpError(400, "invalid_request_error", "The request body is not valid JSON.")
        for name in ("model", "messages"):
            if not body.get(name):
                return HttpError(400, "invalid_request_error", f"you must provide a {name}")
        if body.get("stream") is not True:
            return HttpError(400, "invalid_request_error", "this fake only serves stream: true")
        return None


def error_response(error: HttpError) -> web.Response:
    """An error as OpenAI-compatible servers send it."""
    body = {
        "error": {
            "message": error.message,
            "type": error.error_type,
            "param": None,
            "code": error.error_type,
        }
    }
    return web.json_response(body, status=error.status)


def _data(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


def completion_chunks(
    reply: Reply, model: str, include_usage: bool
) -> Iterator[tuple[float, bytes]]:
    """The reply's SSE chunks with the delay (ms) before each, ending with ``[DONE]``."""
    pacer = DeltaPacer(reply)
    header = {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }
    usage_field = {"usage": None} if include_usage else {}

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return _data({**header, "choices": [choice], **usage_field})

    yield 0.0, chunk({"role": "assistant", "content": ""})
    deltas: list[dict[str, Any]] = [{"content": piece} for piece in reply.text_deltas()]
    for position, tool in enumerate(reply.tools):
        call_id = tool.id or f"call_{uuid.uuid4().hex[:24]}"
        for i, fragment in enumerate(reply.tool_fragments(tool)):
            call: dict[str, Any] = {"index": position, "function": {"arguments": fragment}}
            if i == 0:
                # The first delta of a call names it; later ones carry arguments only.
                call = {
                    "index": position,
                    "id": call_id,
                    "type": "function",
                    "function": {"name": tool.name, "arguments": fragment},
                }
            deltas.append({"tool_calls": [call]})
    for delta in deltas:
        if pacer.fault_due:
            yield 0.0, _fault(reply)
            return
        yield pacer.next_delay_ms(), chunk(delta)
    if pacer.fault_due:
        yield 0.0, _fault(reply)
        return
    finish_reason = FINISH_REASONS.get(reply.final_stop_reason, reply.final_stop_reason)
    yield 0.0, chunk({}, finish_reason)
    if include_usage:
        usage = {
            "prompt_tokens": reply.input_tokens,
            "completion_tokens": reply.output_tokens,
            "total_tokens": reply.input_tokens + reply.output_tokens,
        }
        yield 0.0, _data({**header, "choices": [], "usage": usage})
    yield 0.0, b"data: [DONE]\n\n"


def _fault(reply: Reply) -> bytes:
    # vLLM's shape for a failure after the stream started.
    error_type = reply.fail_with or "server_error"
    return _data({"error": {"message": "The model failed.", "type": error_type, "code": 500}})


def main(argv: Sequence[str] | None = None) -> None:
    """Serve a fake OpenAI-compatible server until interrupted; prints its URL."""
    options = parse_cli("A fake OpenAI-compatible chat completions server.", argv, api_key=True)
    fake = FakeOpenAI(port=options.port, default=options.reply, api_key=options.api_key)
    asyncio.run(serve_forever(fake))


if __name__ == "__main__":
    main()
