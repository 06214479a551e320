"""What a workflow definition may contain (``/v1/workflows``), field by field, and the rules
across fields (``workflow_problems``), each naming the field at fault.

A workflow is a trigger and ordered steps. Steps run in order; a ``condition`` step may jump
forward to a later step (or ``"end"``), never back, so every run finishes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from aybiza.agents.errors import FieldError
from aybiza.automation.tool_specs import HeaderName, HeaderValue, ToolName, ToolUrl
from aybiza.outbound.guard import Guard

StepId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")]
END = "end"
EVENTS = ("call.ended", "tool.completed", "schedule")
FieldName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
FieldDescription = Annotated[str, StringConstraints(min_length=1, max_length=500)]
MAX_DELAY_S = 30 * 24 * 3600


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True)


class RetryPolicy(_Spec):
    """Attempts of a step: after a failed attempt the next waits
    ``backoff_s * 2**(attempt - 1)`` seconds plus up to 10% jitter (at most ``max_backoff_s``)."""

    max_attempts: int = Field(default=3, ge=1, le=20)
    backoff_s: float = Field(default=2.0, ge=0.0, le=3600.0)
    max_backoff_s: float = Field(default=300.0, ge=0.0, le=86_400.0)


class _Step(_Spec):
    id: StepId = Field(description="Unique within the workflow; outputs are steps.<id>.")
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    timeout_s: float = Field(default=30.0, ge=1.0, le=600.0, description="Per attempt.")


class HttpStep(_Step):
    """Send a request; ``url``, header values and ``body`` may hold ``{{path}}`` placeholders.
    Signed like the platform's webhooks when ``sign`` (with the workflow's secret); always sent
    with an ``Idempotency-Key`` that is the same on every attempt."""

    type: Literal["http"]
    method: Literal["POST", "PUT", "PATCH", "DELETE", "GET"] = "POST"
    url: ToolUrl
    headers: dict[HeaderName, HeaderValue] | None = Field(
        default=None, max_length=20, description="Values are stored encrypted, never returned."
    )
    body: Any = None
    sign: bool = True
    headers_sealed: str | None = Field(default=None, exclude=True)


class WebhookStep(_Step):
    """POST a platform-style event ``{"id", "type", "created_at", "data"}``, signed with the
    workflow's secret; ``id`` is the step's idempotency key, so repeats are recognisable."""

    type: Literal["webhook"]
    url: ToolUrl
    event: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.-]{0,63}$")] | None = None
    data: Any = Field(default=None, description="Default: the run's event, call and steps.")


class ExtractStep(_Spec):
    """Extract from the call's transcript with the agent's model (or the embedded extractor):
    ``fields`` (name -> description), plus summary, sentiment and success when ``standard``.
    ``store`` keeps the result as the call's analysis."""

    id: StepId
    type: Literal["extract"]
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    timeout_s: float = Field(default=120.0, ge=1.0, le=600.0)
    fields: dict[FieldName, FieldDescription] = Field(default_factory=dict, max_length=50)
    standard: bool = True
    store: bool = False
    instructions: Annotated[str, StringConstraints(max_length=2000)] = ""


class Condition(_Spec):
    """``path`` (e.g. ``steps.extract.fields.order_number``) compared with ``value``."""

    path: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,300}$")]
    op: Literal[
        "eq", "ne", "gt", "gte", "lt", "lte", "contains", "in", "exists", "truthy", "falsy"
    ] = "truthy"
    value: Any = None


class ConditionStep(_Step):
    """Go to ``then`` when the condition holds, else to ``else``; a target left out means the
    next step, ``"end"`` finishes the run. Targets must come later in the workflow."""

    type: Literal["condition"]
    condition: Condition = Field(alias="if")
    then: StepId | None = None
    otherwise: StepId | None = Field(default=None, alias="else")


class DelayStep(_Step):
    """Wait ``seconds`` before the next step (the run sleeps in the database, not a process)."""

    type: Literal["delay"]
    seconds: float = Field(ge=0.0, le=MAX_DELAY_S)


Step = Annotated[
    HttpStep | WebhookStep | ExtractStep | ConditionStep | DelayStep, Field(discriminator="type")
]


class TriggerSpec(_Spec):
    """When runs start: ``call.ended`` (optionally only for ``agent_ids``), ``tool.completed``
    (optionally only for ``tool``), or ``schedule`` every ``every_s`` seconds."""

    event: Literal["call.ended", "tool.completed", "schedule"]
    agent_ids: list[Annotated[str, StringConstraints(max_length=64)]] | None = Field(
        default=None, max_length=100
    )
    tool: ToolName | None = None
    every_s: int | None = Field(default=None, ge=1, le=31 * 24 * 3600)


WorkflowName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$")]
Description = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{0,500}$")]


class WorkflowCreate(_Spec):
    """A new workflow."""

    name: WorkflowName
    description: Description = ""
    enabled: bool = True
    trigger: TriggerSpec
    steps: list[Step] = Field(min_length=1, max_length=50)


class WorkflowUpdate(_Spec):
    """Fields to change; those left out stay. ``steps`` replaces every step; an http step
    without ``headers`` keeps the stored headers of the step with the same id."""

    description: Description | None = None
    enabled: bool | None = None
    trigger: TriggerSpec | None = None
    steps: list[Step] | None = Field(default=None, min_length=1, max_length=50)


def workflow_problems(
    trigger: TriggerSpec, steps: list[Step], guard: Guard, *, stored: bool = False
) -> list[FieldError]:
    """Every rule across fields that the definition breaks (``stored``: steps read back from
    the database, which carry their sealed headers and whose URLs were checked when stored;
    ``guard``: which URLs may be configured, without DNS)."""
    problems: list[FieldError] = []
    if trigger.event == "schedule" and trigger.every_s is None:
        problems.append(FieldError("trigger.every_s", "a schedule needs every_s (seconds)"))
    if trigger.event != "schedule" and trigger.every_s is not None:
        problems.append(FieldError("trigger.every_s", "only schedules take it", trigger.every_s))
    if trigger.event != "tool.completed" and trigger.tool is not None:
        problems.append(FieldError("trigger.tool", "only tool.completed takes it", trigger.tool))
    if trigger.event == "schedule" and trigger.agent_ids is not None:
        problems.append(FieldError("trigger.agent_ids", "schedules run for no agent"))
    positions: dict[str, int] = {}
    for index, step in enumerate(steps):
        if step.id == END:
            problems.append(FieldError(f"steps.{index}.id", "'end' is reserved", step.id))
        if step.id in positions:
            problems.append(FieldError(f"steps.{index}.id", "repeats an earlier id", step.id))
        positions.setdefault(step.id, index)
    for index, step in enumerate(steps):
        if not stored and isinstance(step, HttpStep) and step.headers_sealed is not None:
            problems.append(FieldError(f"steps.{index}.headers_sealed", "unknown field"))
        if not stored and isinstance(step, HttpStep | WebhookStep):
            problem = _url_problem(step.url, guard)
            if problem is not None:
                problems.append(FieldError(f"steps.{index}.url", problem, step.url))
        if not isinstance(step, ConditionStep):
            continue
        for label, target in (("then", step.then), ("else", step.otherwise)):
            if target is None or target == END:
                continue
            where = positions.get(target)
            if where is None:
                problems.append(FieldError(f"steps.{index}.{label}", "names no step", target))
            elif where <= index:
                problems.append(
                    FieldError(
                        f"steps.{index}.{label}",
                        "must name a later step (workflows only jump forward)",
                        target,
                    )
                )
    if trigger.event == "schedule":
        for index, step in enumerate(steps):
            if isinstance(step, ExtractStep):
                problems.append(
                    FieldError(f"steps.{index}.type", "extract needs a call: not on schedules")
                )
    return problems


def _url_problem(url: str, guard: Guard) -> str | None:
    """The guard's verdict on a step's URL; a placeholder in the scheme or host (filled in per
    run) leaves the verdict to the send-time check."""
    scheme, _, rest = url.partition("://")
    try:
        templated_host = "{{" in scheme or "{{" in urlsplit(f"http://{rest}").netloc
    except ValueError:  # e.g. an unclosed IPv6 bracket: the guard names the problem
        templated_host = False
    return None if templated_host else guard.url_problem(url)
