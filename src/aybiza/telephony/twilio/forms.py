"""Twilio's webhook forms: the signature check, the fields Twilio always sends, and the
carrier-neutral ``IncomingCall`` / ``CallProgress`` they describe.

The auth token that checks ``X-Twilio-Signature`` belongs to the account that owns the call the
request is about: for a call the platform already knows (status callbacks, the connect action,
the whisper, an answered outbound call) the account of *its* number, whatever number the form
names; only the first webhook of a new incoming call is checked with the token of the dialled
number. The form's ``AccountSid`` must be that account's. A tenant signing with its own token
cannot act on another tenant's call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fastapi import Request, Response

from aybiza.agents.errors import FieldError
from aybiza.analytics import metrics
from aybiza.config import Settings
from aybiza.errors import Invalid
from aybiza.store.calls import call_by_sid, number_by_e164
from aybiza.store.models import Call, PhoneNumber
from aybiza.store.queries import is_row_id
from aybiza.telephony.carrier import (
    INBOUND,
    OUTBOUND_API,
    CallProgress,
    Direction,
    IncomingCall,
    ProgressStatus,
)
from aybiza.telephony.twilio.accounts import TwilioAccounts
from aybiza.telephony.twilio.signature import public_url, valid_signature

REQUIRED_FIELDS = ("CallSid", "To", "From")
# What Twilio sends fits easily; anything longer or with control characters is not Twilio.
_FORM_FIELD = re.compile(r"^[^\x00-\x1f\x7f]{1,64}$")
# Twilio's call statuses as the carrier-neutral progress of ``aybiza.telephony.carrier``.
_PROGRESS: dict[str, ProgressStatus] = {
    "queued": "queued",
    "initiated": "queued",
    "ringing": "ringing",
    "in-progress": "answered",
    "answered": "answered",
    "completed": "completed",
    "busy": "busy",
    "no-answer": "no-answer",
    "failed": "failed",
    "canceled": "canceled",
}


@dataclass(frozen=True, slots=True)
class SignedForm:
    """A webhook's fields (the last value of each) once its signature checked out, and the
    platform's number the request concerns (None for a number no tenant registered)."""

    fields: dict[str, str]
    number: PhoneNumber | None


def error_response(status: int, code: str, message: str, field: str | None) -> Response:
    """The API's JSON error shape for a refused webhook."""
    body = {"error": {"code": code, "message": message, "field": field}}
    return Response(content=json.dumps(body), media_type="application/json", status_code=status)


def bad_request(exc: Invalid) -> Response:
    return error_response(400, exc.code, exc.message, exc.field)


def platform_side(fields: Mapping[str, str]) -> str:
    """The platform's number in a webhook: the dialled one of an incoming call, the caller id
    of a call placed through the REST API (``Direction=outbound-api``)."""
    outbound = fields.get("Direction") == OUTBOUND_API
    return fields.get("From", "") if outbound else fields.get("To", "")


def check_form(fields: Mapping[str, str]) -> None:
    """Reject webhook fields Twilio would never send (before anything is stored)."""
    problems = [
        FieldError(name, "expected 1-64 printable characters", fields.get(name))
        for name in REQUIRED_FIELDS
        if not _FORM_FIELD.match(fields.get(name, ""))
    ]
    direction = fields.get("Direction", INBOUND)
    if not _FORM_FIELD.match(direction):
        problems.append(FieldError("Direction", "expected a Twilio call direction", direction))
    if problems:
        raise Invalid(problems, code="invalid_webhook")


def incoming_call(fields: Mapping[str, str], call_id: str | None) -> IncomingCall:
    """The call a voice webhook announces. Raises ``Invalid`` for fields Twilio never sends."""
    check_form(fields)
    outbound = fields.get("Direction") == OUTBOUND_API
    direction: Direction = OUTBOUND_API if outbound else INBOUND
    return IncomingCall(
        carrier="twilio",
        carrier_call_id=fields["CallSid"],
        from_number=fields["From"],
        to_number=fields["To"],
        platform_number=platform_side(fields),
        direction=direction,
        call_id=call_id,
        account=fields.get("AccountSid") or None,
    )


def call_progress(fields: Mapping[str, str], call_id: str | None) -> CallProgress | None:
    """A status callback as carrier-neutral progress (None for a status Twilio never sends)."""
    check_form(fields)
    status = _PROGRESS.get(fields.get("CallStatus", ""))
    if status is None:
        return None
    return CallProgress(
        carrier_call_id=fields["CallSid"],
        status=status,
        call_id=call_id,
        from_number=fields["From"],
        to_number=fields["To"],
    )


async def signed_form(
    request: Request, *, call_id: str | None = None, required: Sequence[str] = REQUIRED_FIELDS
) -> SignedForm | Response:
    """The webhook's fields and the number whose account signed it, or the error response
    (403 for a bad signature or account, 400 for a missing ``required`` field)."""
    settings: Settings = request.app.state.settings
    accounts: TwilioAccounts = request.app.state.twilio_accounts
    form = await request.form()
    fields = {key: [str(v) for v in form.getlist(key)][-1] for key in form}
    number = await _owning_number(request, fields, call_id or request.query_params.get("call_id"))
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
            return error_response(
                403,
                "invalid_signature",
                "X-Twilio-Signature does not match this request (check TWILIO_AUTH_TOKEN and "
                "AYBIZA_PUBLIC_URL)",
                "X-Twilio-Signature",
            )
        expected = accounts.webhook_account(number)
        given = fields.get("AccountSid")
        if expected is not None and given is not None and given != expected:
            metrics.WEBHOOKS.labels("wrong-account").inc()
            return error_response(
                403,
                "wrong_account",
                "AccountSid is not the account that owns this call's number",
                "AccountSid",
            )
    for name in required:
        if not fields.get(name):
            metrics.WEBHOOKS.labels("bad-request").inc()
            return error_response(400, "missing_field", f"the form field {name} is required", name)
    return SignedForm(fields, number)


async def _owning_number(
    request: Request, fields: Mapping[str, str], call_id: str | None
) -> PhoneNumber | None:
    """The number whose account must have signed the request: the known call's own number,
    else (a new incoming call) the number the form names."""
    async with request.app.state.database.session() as session:
        call: Call | None = None
        if call_id is not None and is_row_id(call_id):
            call = await session.get(Call, call_id)
        sid = fields.get("CallSid", "")
        if call is None and _printable(sid):
            call = await call_by_sid(session, sid)
        if call is not None:
            if call.phone_number_id is None:
                return None
            owner: PhoneNumber | None = await session.get(PhoneNumber, call.phone_number_id)
            return owner
        e164 = platform_side(fields)
        # Only values a carrier could send reach the database (PostgreSQL text cannot hold NUL).
        return await number_by_e164(session, e164) if _printable(e164) else None


def _printable(value: str) -> bool:
    return bool(value) and len(value) <= 64 and value.isprintable()
