"""``/v1/calls``: calls with transcript, turn timings, usage and cost; place an outbound call;
hang up a live call."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from aybiza.analytics.report import call_summary
from aybiza.api.auth import require
from aybiza.api.common import DEFAULT_PAGE, Cursor, Limit, ListOf, listed
from aybiza.api.errors import error_responses
from aybiza.security.keys import Scope
from aybiza.services.call_records import CallRecords
from aybiza.services.call_specs import CallCreate
from aybiza.services.outbound_calls import OutboundCalls
from aybiza.services.tenants import Principal
from aybiza.store.calls import CallFilter

router = APIRouter(prefix="/v1/calls", tags=["calls"])

Reader = Annotated[Principal, Depends(require(Scope.CALLS_READ))]
Controller = Annotated[Principal, Depends(require(Scope.CALLS_WRITE))]
Status = Literal["queued", "ringing", "in-progress", "completed"]


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    try:
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except OverflowError as exc:
        raise ValueError("out of range once converted to UTC") from exc


Instant = Annotated[
    datetime | None,
    AfterValidator(_utc),
    Query(description="ISO 8601; without an offset it is UTC. Compared with the call's start."),
]


class _Out(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class CallSummary(_Out):
    """A call in a list."""

    id: str
    call_sid: str
    status: str = Field(examples=["completed"])
    ended_reason: str | None
    direction: str
    from_: str = Field(alias="from")
    to: str
    phone_number_id: str | None
    agent_id: str | None
    agent_version: str | None
    agent_version_id: str | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None


class AgentRun(BaseModel):
    """The agent version that ran the call."""

    id: str
    name: str
    version: str | None
    version_id: str | None


class TurnOut(BaseModel):
    """One exchange with its timings (ms after the end of the caller's speech)."""

    index: int
    user_text: str
    agent_text: str
    heard_text: str
    interrupted: bool
    model: str | None
    timings_ms: dict[str, Any]
    usage: dict[str, Any]
    notes: dict[str, Any]
    at: datetime


class TranscriptLineOut(BaseModel):
    """A final caller line or a heard agent line."""

    seq: int
    speaker: str
    text: str
    at: datetime


class CostOut(BaseModel):
    """What the call cost (USD by default), by part, with the units each part billed."""

    currency: str
    telephony: float
    stt: float
    llm: float
    tts: float
    total: float
    final: bool = Field(description="False while the call is still going.")
    units: dict[str, int | float]
    engines: dict[str, str | None]


class UsageOut(BaseModel):
    """Model tokens, in total and per model."""

    input_tokens: int
    output_tokens: int
    by_model: dict[str, dict[str, int]]


class CallReport(_Out):
    """Everything about a call."""

    id: str
    call_sid: str
    stream_sid: str | None
    status: str = Field(examples=["completed"])
    ended_reason: str | None
    direction: str
    from_: str = Field(alias="from")
    to: str
    phone_number_id: str | None
    agent: AgentRun | None
    engines: dict[str, Any]
    stats: dict[str, Any]
    transfer_to: str | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    duration_s: float
    turns: list[TurnOut]
    transcript: list[TranscriptLineOut]
    usage: UsageOut
    cost: CostOut
    tool_calls: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Every tool the agent ran: arguments (secrets redacted), result, timing.",
    )
    analysis: dict[str, Any] | None = Field(
        default=None,
        description="Post-call analysis: summary, sentiment, success, the agent's fields.",
    )
    workflow_runs: list[dict[str, Any]] = Field(default_factory=list)


class HangupOut(BaseModel):
    """``ended``: the call ended now; ``requested``: the server process running it will end it
    within about a second."""

    outcome: Literal["ended", "requested"]
    call: CallReport


def _service(request: Request) -> CallRecords:
    service: CallRecords = request.app.state.call_records
    return service


@router.post(
    "",
    status_code=201,
    response_model=CallReport,
    responses=error_responses(401, 403, 409, 422, 502, 503),
    summary="Place an outbound call through Twilio",
)
async def place_call(body: CallCreate, request: Request, principal: Controller) -> CallReport:
    """Call ``to`` from one of the tenant's Twilio numbers; when the callee answers, the
    agent (the number's, or ``agent_id``) talks. The call starts ``queued`` and counts
    against the tenant's concurrency limit (``409 concurrency_limit`` when full). Twilio's
    refusals answer ``502 call_failed`` with its code in ``twilio_code``."""
    carrier: OutboundCalls = request.app.state.outbound_calls
    call_id = await carrier.place(principal.tenant_id, body)
    return CallReport.model_validate(await _service(request).report(principal.tenant_id, call_id))


@router.get("", response_model=ListOf[CallSummary], responses=error_responses(400, 401, 403, 422))
async def list_calls(
    request: Request,
    principal: Reader,
    agent_id: Annotated[str | None, Query(pattern=r"^[^\x00-\x1f\x7f]{1,64}$")] = None,
    number: Annotated[
        str | None,
        Query(pattern=r"^[^\x00-\x1f\x7f]{1,64}$", description="The platform's number (E.164)."),
    ] = None,
    status: Status | None = None,
    started_after: Instant = None,
    started_before: Instant = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE,
) -> ListOf[CallSummary]:
    """The tenant's calls, newest first, filtered."""
    where = CallFilter(agent_id, number, status, started_after, started_before)
    page = await _service(request).list(principal.tenant_id, where, cursor=cursor, limit=limit)
    return listed(page, lambda call: CallSummary.model_validate(call_summary(call)))


@router.get("/{call_ref}", response_model=CallReport, responses=error_responses(401, 403, 404))
async def get_call(call_ref: str, request: Request, principal: Reader) -> CallReport:
    """A call by its id or its Twilio CallSid: transcript, turns with timings, ended reason,
    model usage and cost by telephony, STT, LLM and TTS."""
    report = await _service(request).report(principal.tenant_id, call_ref)
    return CallReport.model_validate(report)


@router.post(
    "/{call_ref}/hangup",
    response_model=HangupOut,
    responses={202: {"model": HangupOut}, **error_responses(401, 403, 404, 409)},
)
async def hangup_call(call_ref: str, request: Request, principal: Controller) -> JSONResponse:
    """End a live call (ended reason ``api-hangup``)."""
    result = await _service(request).hangup(principal.tenant_id, call_ref)
    out = HangupOut(outcome=result.outcome, call=CallReport.model_validate(result.report))
    return JSONResponse(
        out.model_dump(mode="json", by_alias=True),
        status_code=200 if result.outcome == "ended" else 202,
    )
