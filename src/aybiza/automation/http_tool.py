"""HTTP tools: the model's arguments POSTed (or PUT/PATCH; GET as query parameters) as JSON to
the tenant's URL, signed like the platform's webhooks, and the answer mapped back to the model."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aybiza.automation.answers import response_content
from aybiza.automation.tool_store import LoadedTool
from aybiza.outbound.sender import OutboundError, OutboundRequest, Retries, Sender, json_body

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


def retries_of(tool: LoadedTool) -> Retries:
    """Attempts an HTTP tool gets (retries only when it is idempotent) and their backoff."""
    attempts = 1 + tool.options.retries if tool.options.idempotent else 1
    return Retries(attempts=attempts, backoff_s=_BACKOFF_S)


def time_budget_s(tool: LoadedTool) -> float:
    """The longest an HTTP tool can take with every attempt and backoff, plus a margin so the
    tool's own timeout (a clear error) fires before the call loop's."""
    retries = retries_of(tool)
    return retries.attempts * (tool.options.timeout_s + 1.0) + retries.longest_wait_s() + 1.0


async def run_http_tool(
    tool: LoadedTool,
    arguments: dict[str, Any],
    *,
    sender: Sender,
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
        signing_secrets=(tool.secret,) if tool.secret else (),
        # The same key on every attempt: an idempotent endpoint can recognise a repeat.
        idempotency_key=f"{call_id}:{tool_call_id}",
    )
    try:
        response = await sender.send(request, timeout_s=options.timeout_s, retries=retries_of(tool))
    except OutboundError as exc:
        return ToolOutcome({"error": f"{tool.name}: {exc.message}"}, True, exc.kind, exc.attempts)
    content = response_content(response)
    if response.ok:
        return ToolOutcome(content, False, "ok", response.attempts)
    error = f"{tool.name}: the endpoint answered HTTP {response.status}"
    return ToolOutcome({"error": error, **content}, True, "http_error", response.attempts)


def _query_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
