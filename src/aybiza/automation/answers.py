"""What HTTP tools and workflow steps make of an answer from a customer's endpoint: the status
and the parsed JSON (or text), cut to a length a model can read."""

from __future__ import annotations

import json
from typing import Any

from aybiza.outbound.sender import OutboundResponse

# Characters of a response body handed back to a model.
MAX_MODEL_CHARS = 4_000


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
    size = f"more than {len(response.body)}" if response.truncated else str(len(response.body))
    content["note"] = (
        f"the response body was {size} bytes; only its first {limit_chars} characters are shown"
    )
    return content
