"""What a tool definition may contain (``/v1/tools``), field by field, and the rules across
fields (``definition_problems``), each naming the field at fault."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from aybiza.agents.errors import FieldError
from aybiza.automation.arguments import schema_problem
from aybiza.automation.preconditions import PreconditionSpec
from aybiza.conversation.tools import CALL_ENDING
from aybiza.outbound.guard import Guard

BUILTIN_KINDS = ("send_dtmf", "send_sms", "collect_digits", "end_call", "transfer_call")
ToolKind = Literal["http", "send_dtmf", "send_sms", "collect_digits", "end_call", "transfer_call"]
ToolName = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"),
    Field(examples=["book_appointment"]),
]
HeaderName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")]
HeaderValue = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{0,4000}$")]
ToolUrl = Annotated[
    str,
    StringConstraints(pattern=r"^[^\s\x00-\x1f\x7f]{1,2000}$"),
    Field(examples=["https://example.com/tools/book"]),
]
Phrase = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"\S")]
# What the model reads about a tool (no NUL: databases refuse it in text).
Description = Annotated[
    str, StringConstraints(min_length=1, max_length=1024, pattern=r"^[^\x00]*$")
]
# Headers the platform sets itself; a tool may not override them.
RESERVED_HEADERS = frozenset(
    {"host", "content-length", "content-type", "aybiza-signature", "idempotency-key"}
)
EMPTY_OBJECT_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


class ToolOptions(BaseModel):
    """How the tool runs. For ``http`` tools: ``url`` (required), ``method``, ``headers`` (values
    stored encrypted, never returned), ``timeout_s`` per attempt, ``retries`` (only for
    ``idempotent`` tools). For every tool: ``speak_during_execution``, ``finish_on_barge_in``
    and a ``precondition`` that can veto a call."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    url: ToolUrl | None = None
    method: Literal["POST", "PUT", "PATCH", "GET"] = "POST"
    headers: dict[HeaderName, HeaderValue] | None = Field(
        default=None, max_length=20, description="Sent with every request; write-only."
    )
    timeout_s: float = Field(default=5.0, ge=0.5, le=30.0, description="Per attempt (seconds).")
    idempotent: bool = Field(
        default=False, description="Safe to repeat: allows retries after failures."
    )
    retries: int = Field(
        default=0, ge=0, le=5, description="Extra attempts after a timeout, 429 or 5xx."
    )
    speak_during_execution: Phrase | None = Field(
        default=None, description="Said while the tool runs, e.g. 'Let me check that.'"
    )
    finish_on_barge_in: bool = Field(
        default=False, description="Let the tool finish when the caller interrupts."
    )
    precondition: PreconditionSpec | None = Field(
        default=None,
        description="'caller_said_goodbye' or {caller_said, within_last_turns, "
        "min_caller_turns}; when it does not hold the call is refused.",
    )


class ToolCreate(BaseModel):
    """A new tool. ``parameters`` is the JSON Schema of the arguments (objects only); built-in
    kinds use their own schema and take none."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: ToolName
    description: Description
    kind: ToolKind = "http"
    parameters: dict[str, Any] | None = None
    options: ToolOptions = ToolOptions()


class ToolUpdate(BaseModel):
    """Fields to change; those left out stay. ``options`` replaces the options as a whole,
    except ``options.headers``: left out (or null), the stored headers stay."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    description: Description | None = None
    parameters: dict[str, Any] | None = None
    options: ToolOptions | None = None


def definition_problems(
    name: str, kind: str, parameters: dict[str, Any] | None, options: ToolOptions, guard: Guard
) -> list[FieldError]:
    """Every rule across fields that the definition breaks (``guard``: which URLs may be
    configured, without DNS)."""
    problems: list[FieldError] = []
    if name in BUILTIN_KINDS and kind != name:
        problems.append(
            FieldError("kind", f"the name {name!r} is a built-in tool: its kind must be {name!r}")
        )
    if kind in CALL_ENDING and name != kind:
        problems.append(FieldError("name", f"a {kind} tool must be named {kind!r}", name))
    if kind == "http":
        problems.extend(_http_problems(parameters, options, guard))
    else:
        if parameters is not None:
            problems.append(
                FieldError("parameters", f"built-in {kind} tools use their own arguments schema")
            )
        for field, value in (("url", options.url), ("headers", options.headers)):
            if value is not None:
                problems.append(FieldError(f"options.{field}", "only http tools take it", value))
    if options.retries and not options.idempotent:
        problems.append(
            FieldError(
                "options.retries",
                "retries repeat the request: allowed only for tools marked idempotent: true",
                options.retries,
            )
        )
    return problems


def _http_problems(
    parameters: dict[str, Any] | None, options: ToolOptions, guard: Guard
) -> list[FieldError]:
    problems: list[FieldError] = []
    if parameters is not None:
        problem = schema_problem(parameters)
        if problem is not None:
            problems.append(FieldError("parameters", problem))
    if options.url is None:
        problems.append(FieldError("options.url", "http tools need the URL to call"))
    elif not _absolute_http(options.url):
        problems.append(FieldError("options.url", "expected an absolute http(s) URL", options.url))
    else:
        problem = guard.url_problem(options.url)
        if problem is not None:
            problems.append(FieldError("options.url", problem, options.url))
    for header in options.headers or {}:
        if header.lower() in RESERVED_HEADERS:
            problems.append(
                FieldError(f"options.headers.{header}", "is set by the platform", header)
            )
    return problems


def _absolute_http(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False
