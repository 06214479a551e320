"""What each kind of step does. A step either returns its result or raises ``StepFailed``,
saying whether another attempt could succeed; the executor records, retries and moves on."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.automation.answers import response_content
from aybiza.automation.redaction import redact
from aybiza.automation.workflows.analysis import AnalysisError, CallAnalyzer
from aybiza.automation.workflows.spec import (
    END,
    ConditionStep,
    ExtractStep,
    HttpStep,
    Step,
    WebhookStep,
)
from aybiza.automation.workflows.templates import holds, render
from aybiza.outbound.sender import (
    OutboundError,
    OutboundRequest,
    OutboundResponse,
    Sender,
    json_body,
)
from aybiza.security.secretbox import SecretBox
from aybiza.store.automation_models import CallAnalysis
from aybiza.store.database import Database
from aybiza.store.models import utcnow

# Characters of a response kept as a step's output (later steps may use it).
MAX_OUTPUT_CHARS = 16_000
_RETRYABLE_STATUSES = frozenset({408, 425, 429})
Apply = Callable[[AsyncSession], Awaitable[None]]


class StepFailed(Exception):
    """The attempt failed; ``retryable`` when another attempt could succeed."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class StepServices:
    """What steps use: the database, the secret box, the outbound sender and the call
    analyzer."""

    database: Database
    box: SecretBox
    sender: Sender
    analyzer: CallAnalyzer


@dataclass(frozen=True, slots=True)
class RunView:
    """The run a step belongs to."""

    id: str
    tenant_id: str
    name: str
    call_id: str | None
    created_at: datetime
    secret_sealed: str | None


@dataclass(slots=True)
class StepResult:
    """A completed attempt: its output (``steps.<id>``), what was sent (redacted), where to go
    next (None: the next step; ``"end"``; a step id) and writes to make with the completion."""

    output: dict[str, Any]
    request: dict[str, Any] = field(default_factory=dict)
    next: str | None = None
    apply: Apply | None = None


async def execute_step(
    step: Step, run: RunView, context: dict[str, Any], key: str, services: StepServices
) -> StepResult:
    """One attempt of ``step`` (delays are the executor's)."""
    if isinstance(step, ConditionStep):
        result = holds(step.condition, context)
        target = step.then if result else step.otherwise
        return StepResult({"result": result, "next": target or "(next step)"}, next=target)
    if isinstance(step, ExtractStep):
        return await _extract(step, run, services)
    if isinstance(step, HttpStep):
        return await _http(step, run, context, key, services)
    if isinstance(step, WebhookStep):
        return await _webhook(step, run, context, key, services)
    raise StepFailed(f"steps of type {step.type} are not run here", retryable=False)


async def _http(
    step: HttpStep, run: RunView, context: dict[str, Any], key: str, services: StepServices
) -> StepResult:
    url = render(step.url, context)
    if not isinstance(url, str):
        raise StepFailed(f"url: the placeholder gave {url!r}, not a URL", retryable=False)
    headers: dict[str, str] = {}
    if step.headers_sealed:
        sealed = json.loads(services.box.open(step.headers_sealed))
        headers = {str(name): str(render(value, context)) for name, value in sealed.items()}
    body = render(step.body, context)
    query = step.method in ("GET", "DELETE")
    params: dict[str, str] = {}
    if query and isinstance(body, dict):
        params = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
    request = OutboundRequest(
        method=step.method,
        url=url,
        body=b"" if query or body is None else json_body(body),
        params=params,
        headers=headers,
        signing_secrets=_secrets(run, services) if step.sign else (),
        idempotency_key=key,
    )
    shown = {"method": step.method, "url": url, "headers": redact(headers), "body": redact(body)}
    response = await _send(request, step.timeout_s, services)
    return StepResult(response_content(response, MAX_OUTPUT_CHARS), request=shown)


async def _webhook(
    step: WebhookStep, run: RunView, context: dict[str, Any], key: str, services: StepServices
) -> StepResult:
    data = (
        render(step.data, context)
        if step.data is not None
        else {name: context.get(name) for name in ("event", "call", "tool", "steps")}
    )
    event = step.event or "workflow." + "".join(c if c.isalnum() else "_" for c in run.name)
    envelope = {
        "id": key,
        "type": event,
        "created_at": run.created_at.isoformat().replace("+00:00", "Z"),
        "data": data,
    }
    request = OutboundRequest(
        method="POST",
        url=step.url,
        body=json_body(envelope),
        headers={"AYBIZA-Event": event, "AYBIZA-Workflow-Run": run.id},
        signing_secrets=_secrets(run, services),
        idempotency_key=key,
    )
    shown = {"method": "POST", "url": step.url, "body": redact(envelope)}
    response = await _send(request, step.timeout_s, services)
    return StepResult({"status": response.status}, request=shown)


async def _send(
    request: OutboundRequest, timeout_s: float, services: StepServices
) -> OutboundResponse:
    try:
        response = await services.sender.send(request, timeout_s=timeout_s)
    except OutboundError as exc:
        raise StepFailed(exc.message, retryable=exc.kind != "refused") from exc
    if response.ok:
        return response
    retryable = response.status >= 500 or response.status in _RETRYABLE_STATUSES
    snippet = response.body[:300].decode("utf-8", errors="replace")
    raise StepFailed(f"HTTP {response.status}: {snippet}", retryable=retryable)


def _secrets(run: RunView, services: StepServices) -> tuple[str, ...]:
    return (services.box.open(run.secret_sealed),) if run.secret_sealed else ()


async def _extract(step: ExtractStep, run: RunView, services: StepServices) -> StepResult:
    if run.call_id is None:
        raise StepFailed("extract needs a call; this run has none", retryable=False)
    try:
        result = await services.analyzer.analyze(
            run.call_id, fields=step.fields, standard=step.standard, instructions=step.instructions
        )
    except AnalysisError as exc:
        raise StepFailed(str(exc), retryable=True) from exc
    apply = _store_analysis(run, result) if step.store else None
    return StepResult(result, apply=apply)


def _store_analysis(run: RunView, result: dict[str, Any]) -> Apply:
    call_id = run.call_id
    assert call_id is not None

    async def write(session: AsyncSession) -> None:
        row = await session.get(CallAnalysis, call_id)
        if row is None:
            row = CallAnalysis(call_id=call_id, tenant_id=run.tenant_id, created_at=utcnow())
            session.add(row)
        row.method = str(result.get("method", ""))[:120]
        row.summary = str(result.get("summary") or "")
        row.sentiment = result.get("sentiment")
        row.success = result.get("success")
        row.success_reason = result.get("success_reason")
        row.fields = dict(result.get("fields") or {})
        row.run_id = run.id
        row.updated_at = utcnow()

    return write


def next_position(steps: list[Step], position: int, target: str | None) -> int:
    """Where a run goes after the step at ``position``."""
    if target is None:
        return position + 1
    if target == END:
        return len(steps)
    for index, step in enumerate(steps):
        if step.id == target:
            return index
    return position + 1
