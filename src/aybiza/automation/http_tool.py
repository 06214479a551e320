"""HTTP tools: the model's arguments POSTed (or PUT/PATCH; GET as query parameters) as JSON to
the tenant's URL, signed like the platform's webhooks, and the answer mapped back to the model."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from aybiza.automation.outbound import (
    OutboundError,
    OutboundRequest,
    json_body,
    response_content,
    send,
)
from aybiza.automation.tool_store import LoadedTool

TOOL_HEADER = "AYBIZA-Tool"
CALL_HEADER = "AYBIZA-Call-Id"
_BACKOFF_S = 0.25


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """What a tool produced: the content for the model, whether it is an error, and the
    recorded ``outcome`` (``ok``, ``error``, ``http_error``, ``timeout``, ``refused``...)."""

    content: dict[str, Any]
    is_error: bool
    outcome: str
    attempts: int = 1


def attempts_allowed(tool: LoadedTool) -> int:
    """Attempts an HTTP tool gets: retries only when it is idempotent."""
    return 1 + tool.options.retries if tool.options.idempotent else 1


def time_budget_s(tool: LoadedTool) -> float:
    """The longest an HTTP tool can take with every attempt and backoff, plus a margin so the
    tool's own timeout (a clear error) fires before the call loop's."""
    attempts = attempts_allowed(tool)
    backoff = sum(_BACKOFF_S * 2.0**i for i in range(attempts - 1))
    return float(attempts * (tool.options.timeout_s + 1.0) + backoff + 1.0)


async def run_http_tool(
    tool: LoadedTool,
    arguments: dict[str, Any],
    *,
    client: httpx.AsyncClient,
    allow_private: bool,
    call_id: str,
    tool_call_id: str,
) -> ToolOutcome:
    """Call the tool's endpoint; failures become error outcomes, never exceptions."""
    options = tool.options
    assert options.url is not None, "http tools are validated to have a URL"
    get = options.method == "GET"
    request = OutboundRequest(
        method=options.method,
        url=options.url,
        body=b"" if get else json_body(arguments),
        params={key: _query_value(value) for key, value in arguments.items()} if get else {},
        headers={**tool.headers, TOOL_HEADER: tool.name, CALL_HEADER: call_id},
        signing_secret=tool.secret,
        # The same key on every attempt: an idempotent endpoint can recognise a repeat.
        idempotency_key=f"{call_id}:{tool_call_id}",
    )
    try:
        response = await send(
            client,
            request,
            timeout_s=options.timeout_s,
            allow_private=allow_private,
            attempts=attempts_allowed(tool),
            backoff_s=_BACKOFF_S,
        )
    except OutboundError as exc:
        return ToolOutcome({"error": f"{tool.name}: {exc.message}"}, True, exc.kind, exc.attempts)
    content = response_content(response)
    if response.ok:
        return ToolOutcome(content, False, "ok", response.attempts)
    error = f"{tool.name}: the endpoint answered HTTP {response.status}"
    return ToolOutcome({"error": error, **content}, True, "http_error", response.attempts)


def _query_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
