"""``/calls``: the call list and a call's page (transcript with times, the recording with its
waveform, each turn's latency waterfall, tools, workflow runs, the post-call analysis, the
cost), and hanging up or transferring a live call. Reads and actions go through
``CallRecords``, as ``/v1/calls`` does, with the same rule for transcripts of redacting
agents."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from aybiza.api.auth import access
from aybiza.dashboard.charts import waterfall
from aybiza.dashboard.gate import PagePerson, Reader, not_found, page, page_for
from aybiza.errors import NotFound, ServiceError
from aybiza.security.permissions import Permission
from aybiza.services.call_records import CALL_STATUSES, CallRecords, withheld
from aybiza.services.call_specs import CallTransfer
from aybiza.store.calls import CallFilter
from aybiza.store.queries import is_row_id

router = APIRouter(prefix="/calls", include_in_schema=False)

Controller = Annotated[PagePerson, Depends(page_for(Permission.CALLS_WRITE))]
PAGE_SIZE = 50


def records(request: Request) -> CallRecords:
    """The process's call records service."""
    service: CallRecords = request.app.state.call_records
    return service


async def shown_report(request: Request, person: PagePerson, ref: str) -> dict[str, Any]:
    """A call's report as this person may see it (``GET /v1/calls/{id}``'s rule)."""
    service = records(request)
    report = await service.report(person.tenant_id, ref)
    if not person.can(Permission.TRANSCRIPTS_READ) and await service.redacts(
        person.tenant_id, report
    ):
        report = withheld(report)
    return report


@router.get("")
async def call_list(
    request: Request,
    person: Reader,
    agent_id: Annotated[str, Query(max_length=64)] = "",
    status: Annotated[str, Query(max_length=20)] = "",
    cursor: Annotated[str, Query(max_length=300)] = "",
) -> HTMLResponse:
    """The tenant's calls, newest first, filtered by agent and status."""
    where = CallFilter(
        agent_id=agent_id if is_row_id(agent_id) else None,
        status=status if status in CALL_STATUSES else None,
    )
    found = await records(request).list(
        person.tenant_id, where, cursor=cursor or None, limit=PAGE_SIZE
    )
    return page(
        request,
        "calls.html",
        person,
        calls=found.items,
        next_cursor=found.next_cursor,
        agent_id=where.agent_id or "",
        status=where.status or "",
        statuses=CALL_STATUSES,
    )


@router.get("/{call_id}")
async def call_page(request: Request, person: Reader, call_id: str) -> HTMLResponse:
    """Everything about one call."""
    try:
        report = await shown_report(request, person, call_id)
    except NotFound as exc:
        return not_found(request, person, exc)
    return page(
        request,
        "call.html",
        person,
        call=report,
        waterfalls=[waterfall(turn["timings_ms"] or {}) for turn in report["turns"]],
        recording=bool(report.get("recording")),
        message=request.query_params.get("message", "")[:200],
    )


@router.post("/{call_id}/hangup", response_model=None)
async def hang_up(request: Request, person: Controller, call_id: str) -> Response:
    """End a live call (ended reason ``api-hangup``), audited as the API's hang-up is."""
    try:
        result = await records(request).hangup(person.tenant_id, call_id)
    except NotFound as exc:
        return not_found(request, person, exc)
    except ServiceError as exc:
        shown = quote(exc.message, safe="")
        return RedirectResponse(f"/calls/{quote(call_id)}?message={shown}", status_code=303)
    await access(request).audit.record(
        "call.hung_up" if result.outcome == "ended" else "call.hangup_requested",
        tenant_id=person.tenant_id,
        target_type="call",
        target_id=str(result.report["id"]),
    )
    return RedirectResponse(f"/calls/{result.report['id']}", status_code=303)


@router.post("/{call_id}/transfer", response_model=None)
async def transfer(
    request: Request, person: Controller, call_id: str, to: Annotated[str, Form(max_length=200)]
) -> Response:
    """Send a live call to a number or SIP URI (``POST /v1/calls/{id}/transfer``)."""
    try:
        target = CallTransfer.model_validate({"to": to}).to
        report = await records(request).transfer(person.tenant_id, call_id, target)
    except NotFound as exc:
        return not_found(request, person, exc)
    except ValidationError:
        message = quote("to: a number in E.164 form (+14155550123) or a SIP URI", safe="")
        return RedirectResponse(f"/calls/{quote(call_id)}?message={message}", status_code=303)
    except ServiceError as exc:
        shown = quote(exc.message, safe="")
        return RedirectResponse(f"/calls/{quote(call_id)}?message={shown}", status_code=303)
    await access(request).audit.record(
        "call.transferred",
        tenant_id=person.tenant_id,
        target_type="call",
        target_id=str(report["id"]),
        details={"to": target},
    )
    return RedirectResponse(f"/calls/{report['id']}", status_code=303)
