"""``POST /twilio/voice``: answer an incoming call with TwiML that connects its media stream."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from twilio.twiml.voice_response import Connect, Dial, VoiceResponse

from aybiza.analytics import metrics
from aybiza.config import Settings
from aybiza.services.calls import CallService
from aybiza.store import repository
from aybiza.telephony.signature import public_url, valid_signature

router = APIRouter()

UNKNOWN_NUMBER_APOLOGY = (
    "Sorry, the number you dialled is not connected to an agent. Please check the number and "
    "try again. Goodbye."
)
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
    routed = await service.incoming(fields)
    response = VoiceResponse()
    if routed is None:
        metrics.WEBHOOKS.labels("unknown-number").inc()
        response.say(UNKNOWN_NUMBER_APOLOGY)
        response.hangup()
        return _twiml(response)
    metrics.WEBHOOKS.labels("connected").inc()
    connect = Connect(action=f"{_base_url(request, websocket=False)}/twilio/connect-action")
    stream = connect.stream(url=f"{_base_url(request, websocket=True)}/twilio/stream")
    for name, value in (
        ("call_id", routed.call_id),
        ("agent_id", routed.agent.id),
        ("agent_version", routed.agent.version),
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
    async with request.app.state.database.session() as session:
        call = await repository.call_by_sid(session, fields["CallSid"])
    response = VoiceResponse()
    if call is not None and call.transfer_to:
        dial = Dial(caller_id=call.to_number or None)
        if call.transfer_to.startswith("sip:"):
            dial.sip(call.transfer_to)
        else:
            dial.number(call.transfer_to)
        response.append(dial)
    else:
        response.hangup()
    return _twiml(response)


@router.post("/twilio/status", response_class=Response)
async def call_status(request: Request) -> Response:
    """Call status callbacks: acknowledged (the stream already records the call's end)."""
    fields = await _signed_form(request)
    if isinstance(fields, Response):
        return fields
    return Response(status_code=204)
