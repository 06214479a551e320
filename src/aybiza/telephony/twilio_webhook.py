"""``POST /twilio/voice``: answer an incoming call with TwiML that connects its media stream."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response
from twilio.twiml.voice_response import Connect, Dial, VoiceResponse

from aybiza.analytics import metrics
from aybiza.config import Settings
from aybiza.services.admission import CONCURRENCY_LIMIT, UNKNOWN_NUMBER, Refused, check_form
from aybiza.services.calls import CallService
from aybiza.services.errors import Invalid
from aybiza.store.calls import call_by_sid, number_by_e164
from aybiza.store.models import utcnow
from aybiza.telephony.signature import public_url, valid_signature

router = APIRouter()

UNKNOWN_NUMBER_APOLOGY = (
    "Sorry, the number you dialled is not connected to an agent. Please check the number and "
    "try again. Goodbye."
)
BUSY_APOLOGY = (
    "Sorry, all of our agents are busy right now. Please call again in a few minutes. Goodbye."
)
BUSY_TRANSFER = "All of our agents are busy right now. Please hold while we transfer you."
UNAVAILABLE_APOLOGY = "Sorry, this line cannot take calls right now. Please try again later."
_REQUIRED_FIELDS = ("CallSid", "To", "From")


def _twiml(response: VoiceResponse, status: int = 200) -> Response:
    return Response(content=str(response), media_type="application/xml", status_code=status)


async def _signed_form(request: Request) -> dict[str, str] | Response:
    """The webhook's form fields, or an error response when the signature or a field is bad."""
    settings: Settings = request.app.state.settings
    form = await request.form()
    params = {key: [str(v) for v in form.getlist(key)] for key in form}
    if settings.twilio_auth_token:
        url = public_url(
            configured=settings.public_url,
            scheme=request.headers.get("x-forwarded-proto", request.url.scheme),
            host=request.headers.get("host", request.url.netloc),
            path=request.url.path,
            query=request.url.query,
            websocket=False,
        )
        signature = request.headers.get("x-twilio-signature", "")
        if not valid_signature(settings.twilio_auth_token, url, form, signature):
            metrics.WEBHOOKS.labels("bad-signature").inc()
            return Response(
                content='{"error":{"code":"invalid_signature","message":"X-Twilio-Signature '
                'does not match this request (check TWILIO_AUTH_TOKEN and AYBIZA_PUBLIC_URL)",'
                '"field":"X-Twilio-Signature"}}',
                media_type="application/json",
                status_code=403,
            )
    fields = {key: values[-1] for key, values in params.items()}
    for name in _REQUIRED_FIELDS:
        if not fields.get(name):
            metrics.WEBHOOKS.labels("bad-request").inc()
            return Response(
                content=f'{{"error":{{"code":"missing_field","message":"the form field {name} '
                f'is required","field":"{name}"}}}}',
                media_type="application/json",
                status_code=400,
            )
    return fields


def _base_url(request: Request, *, websocket: bool) -> str:
    settings: Settings = request.app.state.settings
    scheme = request.headers.get("x-forwarded-proto", request.url.scheme)
    if websocket and not settings.public_url:
        # Twilio only connects to wss://; TLS is terminated in front of this server.
        scheme = "https"
    return public_url(
        configured=settings.public_url,
        scheme=scheme,
        host=request.headers.get("host", request.url.netloc),
        path="",
        query="",
        websocket=websocket,
    )


@router.post("/twilio/voice", response_class=Response)
async def incoming_call(request: Request) -> Response:
    """Route the call to the number's agent and connect a bidirectional media stream."""
    fields = await _signed_form(request)
    if isinstance(fields, Response):
        return fields
    service: CallService = request.app.state.calls
    try:
        admission = await service.incoming(fields)
    except Invalid as exc:
        metrics.WEBHOOKS.labels("bad-request").inc()
        return _bad_request(exc)
    if isinstance(admission, Refused):
        metrics.WEBHOOKS.labels(admission.reason).inc()
        return _twiml(_refusal(admission))
    metrics.WEBHOOKS.labels("connected").inc()
    response = VoiceResponse()
    connect = Connect(action=f"{_base_url(request, websocket=False)}/twilio/connect-action")
    stream = connect.stream(url=f"{_base_url(request, websocket=True)}/twilio/stream")
    for name, value in (
        ("call_id", admission.call_id),
        ("agent_id", admission.agent_id),
        ("agent_version", admission.agent_version),
        ("from", fields["From"]),
        ("to", fields["To"]),
    ):
        stream.parameter(name=name, value=value)
    response.append(connect)
    response.hangup()
    return _twiml(response)


@router.post("/twilio/connect-action", response_class=Response)
async def stream_ended(request: Request) -> Response:
    """Twilio asks what to do once the media stream closed: transfer if the agent asked to,
    otherwise hang up."""
    fields = await _signed_form(request)
    if isinstance(fields, Response):
        return fields
    try:
        check_form(fields)
    except Invalid as exc:
        return _bad_request(exc)
    async with request.app.state.database.writing() as session:
        call = await call_by_sid(session, fields["CallSid"])
        number = await number_by_e164(session, call.to_number) if call is not None else None
        never_started = call is not None and call.started_at is None and call.ended_at is None
        if call is not None and never_started:
            # The media stream never started, so no call loop will record the end: do it here
            # (the call would otherwise count against the tenant's concurrency limit).
            call.status, call.ended_reason, call.ended_at = "completed", "stream-failed", utcnow()
    response = VoiceResponse()
    if call is not None and call.transfer_to:
        response.append(_dial(call.transfer_to, call.to_number))
    elif call is not None and never_started and number and number.fallback_number:
        # The agent never came on the line: the number's fallback serves the caller.
        response.append(_dial(number.fallback_number, call.to_number))
    else:
        response.hangup()
    return _twiml(response)


def _refusal(refused: Refused) -> VoiceResponse:
    """A polite answer for a call no agent can take, transferring to the fallback if any."""
    response = VoiceResponse()
    if refused.reason == CONCURRENCY_LIMIT:
        response.say(BUSY_TRANSFER if refused.transfer_to else BUSY_APOLOGY)
    elif refused.transfer_to is None:
        unknown = refused.reason == UNKNOWN_NUMBER
        response.say(UNKNOWN_NUMBER_APOLOGY if unknown else UNAVAILABLE_APOLOGY)
    if refused.transfer_to:
        response.append(_dial(refused.transfer_to, None))
    response.hangup()
    return response


def _bad_request(exc: Invalid) -> Response:
    body = {"error": {"code": exc.code, "message": exc.message, "field": exc.field}}
    return Response(content=json.dumps(body), media_type="application/json", status_code=400)


def _dial(target: str, caller_id: str | None) -> Dial:
    dial = Dial(caller_id=caller_id or None)
    if target.startswith(("sip:", "sips:")):
        dial.sip(target)
    else:
        dial.number(target)
    return dial


@router.post("/twilio/status", response_class=Response)
async def call_status(request: Request) -> Response:
    """Call status callbacks: acknowledged (the stream already records the call's end)."""
    fields = await _signed_form(request)
    if isinstance(fields, Response):
        return fields
    return Response(status_code=204)
