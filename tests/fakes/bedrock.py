"""A fake Amazon Bedrock runtime: ``ConverseStream`` with real AWS event-stream framing.

``POST /model/{modelId}/converse-stream`` (model id percent-encoded, as botocore sends it)
answers ``application/vnd.amazon.eventstream`` frames in real Bedrock's order:
messageStart, text block (contentBlockDelta x N, contentBlockStop, no contentBlockStart),
tool block (contentBlockStart toolUse, input fragments, contentBlockStop), messageStop,
metadata. It refuses what Bedrock refuses: a bare ``anthropic.`` base id (on-demand throughput
is not supported), a conversation that does not start with the user or does not alternate, a
temperature above 1, tool blocks without ``toolConfig``, a ``toolUse`` whose ``toolResult`` is not
in the next message (or a result with no use before it), an unsigned request. Without
``toolConfig`` the model cannot call a tool: a scripted tool call is left out of the answer.

Run alone: ``python tests/fakes/bedrock.py --port 9002 --first-token-ms 300 --reply "Hi."``
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiohttp import web

if __name__ == "__main__":
    # Run as a script: import ``tests`` from the repository root, not this directory, where
    # this file would shadow the vendor SDK of the same name.
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from tests.fakes.eventstream import event_frame, exception_frame
from tests.fakes.llm_server import (
    DeltaPacer,
    FakeLlmServer,
    HttpError,
    Reply,
    parse_cli,
    serve_forever,
)

ON_DEMAND_UNSUPPORTED = (
    "Invocation of model ID {model_id} with on-demand throughput isn't supported. Retry your "
    "request with the ID or ARN of an inference profile that contains this model."
)
MUST_START_WITH_USER = (
    "A conversation must start with a user message. Try again with a conversation that starts "
    "with a user message."
)
MUST_ALTERNATE = (
    "A conversation must alternate between user and assistant roles. Make sure the conversation "
    "alternates between user and assistant roles and try again."
)
TOOL_CONFIG_REQUIRED = (
    "The toolConfig field must be defined when using toolUse and toolResult content blocks."
)
MISSING_TOOL_RESULTS = (
    "Expected toolResult blocks at messages.{index}.content for the following Ids: {ids}"
)
EXTRA_TOOL_RESULTS = (
    "The number of toolResult blocks at messages.{index}.content exceeds the number of toolUse "
    "blocks of previous turn."
)
# What each in-stream exception says; the ``:exception-type`` header carries the member name.
EXCEPTION_MESSAGES = {
    "throttlingException": "Too many requests, please wait before trying again.",
    "modelStreamErrorException": "The model failed to process the request.",
    "internalServerException": "The server encountered an internal error.",
    "serviceUnavailableException": "The service is temporarily unavailable.",
    "validationException": "The input is invalid.",
}


class FakeBedrock(FakeLlmServer):
    """Bedrock runtime's ``ConverseStream``; ``model`` of a recorded request is the decoded id."""

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/model/{model_id}/converse-stream", self._converse_stream)]

    async def _converse_stream(self, request: web.Request) -> web.StreamResponse:
        # From the raw path: the id must arrive percent-encoded, and is decoded here once.
        model_id = unquote(request.raw_path.split("/")[2])
        recorded = await self.record(request, model=model_id)
        problem = request_problem(model_id, recorded.headers, recorded.body)
        scripted = problem or self.next_reply(model_id)
        if isinstance(scripted, HttpError):
            return rest_json_error(scripted)
        if "toolConfig" not in recorded.body:
            scripted = scripted.without_tools()
        response = web.StreamResponse(
            headers={
                "Content-Type": "application/vnd.amazon.eventstream",
                "x-amzn-RequestId": str(uuid.uuid4()),
            }
        )
        return await self.stream(request, response, converse_frames(scripted, time.monotonic()))


def request_problem(model_id: str, headers: dict[str, str], body: Any) -> HttpError | None:
    """The error real Bedrock returns for this request, or None when it would be served."""
    if "authorization" not in headers:
        return HttpError(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    if not isinstance(body, dict):
        return HttpError(400, "SerializationException", "The request body is not JSON.")
    if model_id.startswith("anthropic."):
        return HttpError(
            400, "ValidationException", ON_DEMAND_UNSUPPORTED.format(model_id=model_id)
        )
    messages = body.get("messages") or []
    if not messages or messages[0].get("role") != "user":
        return HttpError(400, "ValidationException", MUST_START_WITH_USER)
    roles = [message.get("role") for message in messages]
    if any(first == second for first, second in itertools.pairwise(roles)):
        return HttpError(400, "ValidationException", MUST_ALTERNATE)
    temperature = body.get("inferenceConfig", {}).get("temperature", 0)
    if not 0 <= temperature <= 1:
        return HttpError(
            400,
            "ValidationException",
            f"1 validation error detected: Value '{temperature}' at "
            "'inferenceConfig.temperature' failed to satisfy constraint: Member must have value "
            "less than or equal to 1",
        )
    uses_tools = any(
        "toolUse" in block or "toolResult" in block
        for message in messages
        for block in message.get("content", [])
    )
    if uses_tools and "toolConfig" not in body:
        return HttpError(400, "ValidationException", TOOL_CONFIG_REQUIRED)
    return tool_pairing_problem(messages)


def tool_pairing_problem(messages: list[dict[str, Any]]) -> HttpError | None:
    """Bedrock's refusal of a ``toolUse`` not answered by a ``toolResult`` in the very next
    message, or of a ``toolResult`` that answers no ``toolUse`` of the message before it."""
    asked: list[str] = []  # toolUse ids of the previous (assistant) message
    for index, message in enumerate(messages):
        content = message.get("content", [])
        answered = [b["toolResult"].get("toolUseId") for b in content if "toolResult" in b]
        if any(tool_use_id not in asked for tool_use_id in answered):
            return HttpError(400, "ValidationException", EXTRA_TOOL_RESULTS.format(index=index))
        missing = [tool_use_id for tool_use_id in asked if tool_use_id not in answered]
        if missing:
            text = MISSING_TOOL_RESULTS.format(index=index, ids=", ".join(missing))
            return HttpError(400, "ValidationException", text)
        asked = [b["toolUse"].get("toolUseId") for b in content if "toolUse" in b]
    if asked:
        text = MISSING_TOOL_RESULTS.format(index=len(messages), ids=", ".join(asked))
        return HttpError(400, "ValidationException", text)
    return None


def rest_json_error(error: HttpError) -> web.Response:
    """A rest-json error as Bedrock sends it before a stream starts."""
    return web.json_response(
        {"message": error.message},
        status=error.status,
        headers={
            "x-amzn-ErrorType": f"{error.error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/",
            "x-amzn-RequestId": str(uuid.uuid4()),
        },
    )


def converse_frames(reply: Reply, started: float) -> Iterator[tuple[float, bytes]]:
    """The reply's frames with the delay (ms) before each, in real Bedrock's event order."""
    pacer = DeltaPacer(reply)
    yield 0.0, event_frame("messageStart", {"role": "assistant"})
    index = 0
    if reply.text:
        for piece in reply.text_deltas():
            if pacer.fault_due:
                yield 0.0, _fault(reply)
                return
            delta = {"contentBlockIndex": index, "delta": {"text": piece}}
            yield pacer.next_delay_ms(), event_frame("contentBlockDelta", delta)
        yield 0.0, event_frame("contentBlockStop", {"contentBlockIndex": index})
        index += 1
    for tool in reply.tools:
        tool_use_id = tool.id or f"tooluse_{uuid.uuid4().hex[:22]}"
        start = {"toolUse": {"toolUseId": tool_use_id, "name": tool.name}}
        yield 0.0, event_frame("contentBlockStart", {"contentBlockIndex": index, "start": start})
        for fragment in reply.tool_fragments(tool):
            if pacer.fault_due:
                yield 0.0, _fault(reply)
                return
            delta = {"contentBlockIndex": index, "delta": {"toolUse": {"input": fragment}}}
            yield pacer.next_delay_ms(), event_frame("contentBlockDelta", delta)
        yield 0.0, event_frame("contentBlockStop", {"contentBlockIndex": index})
        index += 1
    if pacer.fault_due:
        yield 0.0, _fault(reply)
        return
    yield 0.0, event_frame("messageStop", {"stopReason": reply.final_stop_reason})
    usage = {
        "inputTokens": reply.input_tokens,
        "outputTokens": reply.output_tokens,
        "totalTokens": reply.input_tokens + reply.output_tokens,
    }
    latency_ms = reply.reported_latency_ms
    if latency_ms is None:
        latency_ms = round((time.monotonic() - started) * 1000)
    yield 0.0, event_frame("metadata", {"usage": usage, "metrics": {"latencyMs": latency_ms}})


def _fault(reply: Reply) -> bytes:
    exception_type = reply.fail_with or "throttlingException"
    message = EXCEPTION_MESSAGES.get(exception_type, "The request failed.")
    return exception_frame(exception_type, message)


def main(argv: Sequence[str] | None = None) -> None:
    """Serve a fake Bedrock runtime until interrupted; prints its URL."""
    options = parse_cli("A fake Amazon Bedrock runtime (ConverseStream).", argv, api_key=False)
    asyncio.run(serve_forever(FakeBedrock(port=options.port, default=options.reply)))


if __name__ == "__main__":
    main()
