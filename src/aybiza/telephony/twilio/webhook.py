"""Twilio's webhooks: ``POST /twilio/voice`` answers a call with TwiML that connects its media
stream; ``/twilio/connect-action`` says what follows the stream; ``/twilio/whisper/{id}`` reads a
warm transfer's summary; ``/twilio/status`` takes call progress. Each turns Twilio's form into the
carrier-neutral description and hands it to the platform's ``CallIntake`` (``app.state.calls``).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from aybiza.analytics import metrics
from aybiza.config import Settings
from aybiza.errors import Invalid
from aybiza.telephony.carrier import CallIntake, MachineAnswer, NotTakingCalls, Refused
from aybiza.telephony.twilio import twiml
from aybiza.telephony.twilio.accounts import TwilioAccounts
from aybiza.telephony.twilio.amd import AMD_PATH, machine_verdict
from aybiza.telephony.twilio.forms import (
    SignedForm,
    bad_request,
    call_progress,
    check_form,
    error_response,
    incoming_call,
    signed_form,
)
from aybiza.telephony.twilio.signature import public_url

router = APIRouter()


def _intake(request: Request) -> CallIntake:
    intake: CallIntake = request.app.state.calls
    return intake


def base_url(request: Request, *, websocket: bool) -> str:
    """Where Twilio reaches this server for the call at hand (``AYBIZA_PUBLIC_URL``, else the
    request's host), with ``/regions/<AYBIZA_REGION>`` when a region is set: the edge sends a
    call's stream and callbacks back to the region that took it (docs/edge.md)."""
    settings: Settings = request.app.state.settings
    scheme = request.headers.get("x-forwarded-proto", request.url.scheme)
    if websocket and not settings.public_url:
        # Twilio only connects to wss://; TLS is terminated in front of this server.
        scheme = "https"
    return public_url(
        configured=settings.public_url,
        scheme=scheme,
        host=request.headers.get("host", request.url.netloc),
        path=settings.region_path,
        query="",
        websocket=websocket,
    )


@router.post("/twilio/voice", response_class=Response)
async def incoming(request: Request) -> Response:
    """Route the call to the number's agent and connect a bidirectional media stream. Calls
    placed through ``POST /v1/calls`` come here too when answered (``Direction=outbound-api``,
    ``call_id`` in the query)."""
    signed = await signed_form(request)
    if isinstance(signed, Response):
        return signed
    fields = signed.fields
    try:
        call = incoming_call(fields, request.query_params.get("call_id"))
        admission = await _intake(request).admit(call)
    except Invalid as exc:
        metrics.WEBHOOKS.labels("bad-request").inc()
        return bad_request(exc)
    except NotTakingCalls as exc:
        # Twilio retries a 503 on the number's fallback URL or another server.
        metrics.WEBHOOKS.labels("draining").inc()
        response = error_response(503, "draining", str(exc), None)
        response.headers["Retry-After"] = "1"
        return response
    if isinstance(admission, Refused):
        metrics.WEBHOOKS.labels(admission.reason).inc()
        return twiml.twiml(twiml.refusal(admission))
    metrics.WEBHOOKS.labels("connected").inc()
    accounts: TwilioAccounts = request.app.state.twilio_accounts
    # Twilio signs the stream of a customer's number with the customer's token: the call's
    # id in the path tells the stream which token checks it.
    customer = signed.number is not None and accounts.customer(signed.number) is not None
    path = f"/twilio/stream/{admission.call_id}" if customer else "/twilio/stream"
    response = twiml.connect_stream(
        action_url=f"{base_url(request, websocket=False)}/twilio/connect-action",
        stream_url=f"{base_url(request, websocket=True)}{path}",
        parameters={
            "call_id": admission.call_id,
            "agent_id": admission.agent_id,
            "agent_version": admission.agent_version,
            "from": call.from_number,
            "to": call.to_number,
        },
    )
    return twiml.twiml(response)


@router.post("/twilio/connect-action", response_class=Response)
async def stream_ended(request: Request) -> Response:
    """Twilio asks what to do once the media stream closed: transfer if the agent asked to,
    send a call the agent never answered to the number's fallback, otherwise hang up."""
    signed = await _checked(request)
    if isinstance(signed, Response):
        return signed
    after = await _intake(request).after_media(signed.fields["CallSid"])
    whisper = (
        f"{base_url(request, websocket=False)}/twilio/whisper/{after.call_id}"
        if after.call_id
        else None
    )
    return twiml.twiml(twiml.after_media(after, whisper))


@router.post("/twilio/whisper/{call_id}", response_class=Response)
async def transfer_whisper(call_id: str, request: Request) -> Response:
    """Twilio plays this to the person answering a warm transfer: the agent's summary."""
    signed = await signed_form(request, call_id=call_id)
    if isinstance(signed, Response):
        return signed
    summary = await _intake(request).transfer_summary(call_id)
    return twiml.twiml(twiml.whisper(summary))


@router.post("/twilio/status", response_class=Response)
async def call_status(request: Request) -> Response:
    """Call status callbacks (numbers' and placed calls'): the status moves on, and a call
    whose stream never started is ended with Twilio's reason (busy, no-answer, ...)."""
    signed = await _checked(request)
    if isinstance(signed, Response):
        return signed
    progress = call_progress(signed.fields, request.query_params.get("call_id"))
    if progress is not None:
        await _intake(request).progress(progress)
    return Response(status_code=204)


@router.post(AMD_PATH, response_class=Response)
async def machine_detection(request: Request) -> Response:
    """Twilio's answering-machine detection decided (``AsyncAmdStatusCallback`` of a call
    placed with ``MachineDetection``): the call loop greets, hangs up or leaves its message."""
    signed = await signed_form(request, required=("CallSid", "AnsweredBy"))
    if isinstance(signed, Response):
        return signed
    try:
        verdict = machine_verdict(signed.fields)
    except Invalid as exc:
        metrics.WEBHOOKS.labels("bad-request").inc()
        return bad_request(exc)
    answer = MachineAnswer(
        carrier_call_id=verdict.carrier_call_id,
        answered_by=verdict.answered_by,
        message_end=verdict.message_end,
        call_id=request.query_params.get("call_id"),
        detail=verdict.carrier_value,
    )
    await _intake(request).machine_detected(answer)
    return Response(status_code=204)


async def _checked(request: Request) -> SignedForm | Response:
    signed = await signed_form(request)
    if isinstance(signed, Response):
        return signed
    try:
        check_form(signed.fields)
    except Invalid as exc:
        return bad_request(exc)
    return signed
