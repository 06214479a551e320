"""``POST /twilio/voice``: answer an incoming call with TwiML that connects its media stream."""

from __future__ import annotations

import json
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from twilio.twiml.voice_response import Connect, Dial, VoiceResponse

from aybiza.analytics import metrics
from aybiza.config import Settings
from aybiza.errors import Invalid
from aybiza.services.admission import (
    CONCURRENCY_LIMIT,
    UNKNOWN_NUMBER,
    Refused,
    check_form,
    platform_side,
)
from aybiza.services.calls import CallService
from aybiza.services.carrier_calls import CarrierCalls
from aybiza.services.twilio_accounts import TwilioAccounts
from aybiza.store.calls import call_by_sid, number_by_e164
from aybiza.store.models import Call, PhoneNumber, utcnow
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


async def _signed_form(request: Request) -> tuple[dict[str, str], PhoneNumber | None] | Response:
    """The webhook's form fields and the platform's number they concern, or an error response
    when the signature or a field is bad. The signature is checked with the token of the
    account owning the number (a customer's for an imported number, else the platform's)."""
    settings: Settings = request.app.state.settings
    accounts: TwilioAccounts = request.app.state.twilio_accounts
    form = await request.form()
    params = {key: [str(v) for v in form.getlist(key)] for key in form}
    fields = {key: values[-1] for key, values in params.items()}
    number = await _number(request, platform_side(fields))
    token = accounts.webhook_token(number)
    if token:
        url = public_url(
            configured=settings.public_url,
            scheme=request.headers.get("x-forwarded-proto", request.url.scheme),
            host=request.headers.get("host", request.url.netloc),
            path=request.url.path,
            query=request.url.query,
            websocket=False,
        )
        signature = request.headers.get("x-twilio-signature", "")
        if not valid_signature(token, url, form, signature):
            metrics.WEBHOOKS.labels("bad-signature").inc()
            return Response(
                content='{"error":{"code":"invalid_signature","message":"X-Twilio-Signature '
                'does not match this request (check TWILIO_AUTH_TOKEN and AYBIZA_PUBLIC_URL)",'
                '"field":"X-Twilio-Signature"}}',
                media_type="application/json",
                status_code=403,
            )
    for name in _REQUIRED_FIELDS:
        if not fields.get(name):
            metrics.WEBHOOKS.labels("bad-request").inc()
            return Response(
                content=f'{{"error":{{"code":"missing_field","message":"the form field {name} '
                f'is required","field":"{name}"}}}}',
                media_type="application/json",
                status_code=400,
            )
    return fields, number


async def _number(request: Request, e164: str) -> PhoneNumber | None:
    # Only values a carrier could send reach the database (PostgreSQL text cannot hold NUL).
    if not e164 or len(e164) > 64 or not e164.isprintable():
        return None
    async with request.app.state.database.session() as session:
        return await number_by_e164(session, e164)


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
    """Route the call to the number's agent and connect a bidirectional media stream. Calls
    placed through ``POST /v1/calls`` come here too when answered (``Direction=outbound-api``,
    ``call_id`` in the query)."""
    signed = await _signed_form(request)
    if isinstance(signed, Response):
        return signed
    fields, number = signed
    service: CallService = request.app.state.calls
    accounts: TwilioAccounts = request.app.state.twilio_accounts
    try:
        admission = await service.incoming(fields, request.query_params.get("call_id"))
    except Invalid as exc:
        metrics.WEBHOOKS.labels("bad-request").inc()
        return _bad_request(exc)
    if isinstance(admission, Refused):
        metrics.WEBHOOKS.labels(admission.reason).inc()
        return _twiml(_refusal(admission))
    metrics.WEBHOOKS.labels("connected").inc()
    response = VoiceResponse()
    connect = Connect(action=f"{_base_url(request, websocket=False)}/twilio/connect-action")
    # Twilio signs the stream of a customer's number with the customer's token: the call's
    # id in the path tells the stream which token checks it.
    customer = number is not None and accounts.customer(number) is not None
    path = f"/twilio/stream/{admission.call_id}" if customer else "/twilio/stream"
    stream = connect.stream(url=f"{_base_url(request, websocket=True)}{path}")
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
    signed = await _signed_form(request)
    if isinstance(signed, Response):
        return signed
    fields, _ = signed
    try:
        check_form(fields)
    except Invalid as exc:
        return _bad_request(exc)
    async with request.app.state.database.writing() as session:
        call = await call_by_sid(session, fields["CallSid"])
        number = (
            await session.get(PhoneNumber, call.phone_number_id)
            if call and call.phone_number_id
            else None
        )
        never_started = call is not None and call.started_at is None and call.ended_at is None
        if call is not None and never_started:
            # The media stream never started, so no call loop will record the end: do it here
            # (the call would otherwise count against the tenant's concurrency limit).
            call.status, call.ended_reason, call.ended_at = "completed", "stream-failed", utcnow()
    response = VoiceResponse()
    # The platform's number shows as the caller id of a transfer.
    own = number.e164 if number is not None else None
    if call is not None and call.transfer_to:
        summary = str((call.stats or {}).get("transfer_summary") or "")
        whisper = (
            f"{_base_url(request, websocket=False)}/twilio/whisper/{call.id}" if summary else None
        )
        response.append(_dial(call.transfer_to, own, summary=summary, whisper_url=whisper))
    elif call is not None and never_started and number and number.fallback_number:
        # The agent never came on the line: the number's fallback serves the caller.
        response.append(_dial(number.fallback_number, own))
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


def _dial(
    target: str, caller_id: str | None, *, summary: str = "", whisper_url: str | None = None
) -> Dial:
    """``<Dial>`` the transfer target. A warm transfer's summary goes with it: read to the
    person who answers a number before the caller is connected (Twilio's ``<Number url>``), or
    as an ``X-AYBIZA-Summary`` header on a SIP INVITE."""
    dial = Dial(caller_id=caller_id or None)
    if target.startswith(("sip:", "sips:")):
        separator = "&" if "?" in target else "?"
        header = f"{separator}X-AYBIZA-Summary={quote(summary[:200])}" if summary else ""
        dial.sip(target + header)
    else:
        if whisper_url:
            dial.number(target, url=whisper_url)
        else:
            dial.number(target)
    return dial


@router.post("/twilio/whisper/{call_id}", response_class=Response)
async def transfer_whisper(call_id: str, request: Request) -> Response:
    """Twilio plays this to the person answering a warm transfer: the agent's summary."""
    signed = await _signed_form(request)
    if isinstance(signed, Response):
        return signed
    async with request.app.state.database.session() as session:
        call = await session.get(Call, call_id)
    response = VoiceResponse()
    summary = str((call.stats or {}).get("transfer_summary") or "") if call else ""
    if summary:
        response.say(f"Transferred call from the AI agent. {summary}")
    return _twiml(response)


@router.post("/twilio/status", response_class=Response)
async def call_status(request: Request) -> Response:
    """Call status callbacks (numbers' and placed calls'): the status moves on, and a call
    whose stream never started is ended with Twilio's reason (busy, no-answer, ...)."""
    signed = await _signed_form(request)
    if isinstance(signed, Response):
        return signed
    fields, _ = signed
    try:
        check_form(fields)
    except Invalid as exc:
        return _bad_request(exc)
    carrier: CarrierCalls = request.app.state.carrier_calls
    await carrier.progress(fields, request.query_params.get("call_id"))
    return Response(status_code=204)
