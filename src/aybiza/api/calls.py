"""``/v1/calls``: calls with transcript, turn timings, usage and cost; place an outbound call;
hang up a live call."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from aybiza.analytics.report import call_summary
from aybiza.api.auth import access, require
from aybiza.api.common import DEFAULT_PAGE, Cursor, Limit, ListOf, listed
from aybiza.api.errors import error_responses
from aybiza.security.permissions import Permission, grants
from aybiza.services.call_records import CallRecords, withheld
from aybiza.services.call_specs import CallCreate, CallTransfer
from aybiza.services.outbound_calls import OutboundCalls
from aybiza.services.tenants import Principal
from aybiza.store.calls import CallFilter

router = APIRouter(prefix="/v1/calls", tags=["calls"])

Reader = Annotated[Principal, Depends(require(Permission.CALLS_READ))]
Controller = Annotated[Principal, Depends(require(Permission.CALLS_WRITE))]
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
    carrier: str = Field(examples=["twilio"], description="twilio, sip or browser")
    status: str = Field(examples=["completed"])
    ended_reason: str | None
    answered_by: str | None = Field(
        default=None,
        examples=["machine"],
        description="Outbound calls screened for answering machines: human, machine, fax or "
        "unknown (null when not screened).",
    )
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


class RecordingOut(BaseModel):
    """A call's stored recording: a stereo WAV, left the caller, right the agent as heard."""

    url: str = Field(description="GET it with the permission recordings:read (audio/wav).")
    duration_s: float | None
    channels: int
    left: str
    right: str
    format: str
    sample_rate_hz: int
    bytes: int | None
    sealed: bool = Field(
        description="Encrypted at rest under the tenant's data key (the API returns the WAV)."
    )


class CallReport(_Out):
    """Everything about a call."""

    id: str
    call_sid: str
    carrier: str = Field(examples=["twilio"], description="twilio, sip or browser")
    stream_sid: str | None
    status: str = Field(examples=["completed"])
    ended_reason: str | None
    answered_by: str | None = Field(
        default=None,
        examples=["machine"],
        description="Outbound calls screened for answering machines: human, machine, fax or "
        "unknown (null when not screened).",
    )
    direction: str
    from_: str = Field(alias="from")
    to: str
    phone_number_id: str | None
    agent: AgentRun | None
    engines: dict[str, Any]
    stats: dict[str, Any]
    transfer_to: str | None
    custom_parameters: dict[str, str] = Field(
        default_factory=dict,
        description="What the carrier passed along for the agent (a SIP INVITE's X- headers).",
    )
    recording: RecordingOut | None = Field(
        default=None, description="Set once the call's recording is stored (recording.ready)."
    )
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
    withheld: list[str] = Field(
        default_factory=list,
        description="What was left out: the agent redacts PII and the caller lacks the "
        "permission transcripts:read (the analyst and billing roles).",
    )


class HangupOut(BaseModel):
    """``ended``: the call ended now; ``requested``: the server process running it will end it
    within about a second."""

    outcome: Literal["ended", "requested"]
    call: CallReport


def _service(request: Request) -> CallRecords:
    service: CallRecords = request.app.state.call_records
    return service


async def _shown(request: Request, principal: Principal, report: dict[str, Any]) -> CallReport:
    """The report as this caller may see it (transcripts of redacting agents need
    ``transcripts:read``)."""
    if not grants(principal.scopes, Permission.TRANSCRIPTS_READ) and await _service(
        request
    ).redacts(principal.tenant_id, report):
        report = withheld(report)
    return CallReport.model_validate(report)


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
    await access(request).audit.record(
        "call.placed",
        tenant_id=principal.tenant_id,
        target_type="call",
        target_id=call_id,
        details={"agent_id": body.agent_id},
    )
    report = await _service(request).report(principal.tenant_id, call_id)
    return await _shown(request, principal, report)


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
    return await _shown(request, principal, report)


@router.post(
    "/{call_ref}/hangup",
    response_model=HangupOut,
    responses={202: {"model": HangupOut}, **error_responses(401, 403, 404, 409)},
)
async def hangup_call(call_ref: str, request: Request, principal: Controller) -> JSONResponse:
    """End a live call (ended reason ``api-hangup``)."""
    result = await _service(request).hangup(principal.tenant_id, call_ref)
    await access(request).audit.record(
        "call.hung_up" if result.outcome == "ended" else "call.hangup_requested",
        tenant_id=principal.tenant_id,
        target_type="call",
        target_id=str(result.report["id"]),
    )
    out = HangupOut(outcome=result.outcome, call=await _shown(request, principal, result.report))
    return JSONResponse(
        out.model_dump(mode="json", by_alias=True),
        status_code=200 if result.outcome == "ended" else 202,
    )


@router.post(
    "/{call_ref}/transfer",
    response_model=CallReport,
    responses=error_responses(401, 403, 404, 409, 422),
)
async def transfer_call(
    call_ref: str, body: CallTransfer, request: Request, principal: Controller
) -> CallReport:
    """Send a live call to a number or SIP URI (ended reason ``transferred``; the carrier
    connects the caller there). 409 ``call_not_here`` when another server process runs it."""
    report = await _service(request).transfer(principal.tenant_id, call_ref, body.to)
    await access(request).audit.record(
        "call.transferred",
        tenant_id=principal.tenant_id,
        target_type="call",
        target_id=str(report["id"]),
        details={"to": body.to},
    )
    return await _shown(request, principal, report)
