"""Answering an incoming INVITE: the trunk gate, the platform's admission, an RTP port and the
SDP answer, the call loop, then 200 OK.

The answer goes out as soon as the loop exists (no ringing: every millisecond before the
greeting is the caller's). A CANCEL that arrives meanwhile (the user agent answers it 487)
stops the work at the next step and ends the recorded call as ``canceled``. Refusals map to
the statuses a trunk understands: 404 unknown number, 403 not allowed, 401 challenge, 486 the
tenant is at its limit (or 302 to the number's fallback), 503 draining or out of RTP ports,
488 no codec in common, 422 session interval too small.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

import structlog

from aybiza.errors import Invalid
from aybiza.telephony.carrier import (
    CONCURRENCY_LIMIT,
    NO_AGENT_VERSION,
    UNKNOWN_NUMBER,
    CallProgress,
    IncomingCall,
    MediaRefused,
    NotTakingCalls,
    Refused,
)
from aybiza.telephony.sip.call import ALLOW, SDP, CallHost, SipCall
from aybiza.telephony.sip.connection import MediaRelay
from aybiza.telephony.sip.dialog import Dialog, DialogError
from aybiza.telephony.sip.headers import new_tag
from aybiza.telephony.sip.media import RtpEndpoint
from aybiza.telephony.sip.message import Request
from aybiza.telephony.sip.offer_answer import UNNEGOTIATED, NotAcceptable, SdpSession
from aybiza.telephony.sip.ports import NoRtpPort
from aybiza.telephony.sip.sdp import SdpError, SessionDescription
from aybiza.telephony.sip.server_transaction import InviteServerTransaction
from aybiza.telephony.sip.session_timer import too_small
from aybiza.telephony.sip.transaction import State
from aybiza.telephony.sip.transport import Peer
from aybiza.telephony.sip.trunk_gate import Denied, TrunkGate, number_in
from aybiza.telephony.sip.uri import SipUri

log = structlog.get_logger(__name__)

MAX_PARAMETERS = 20

_REFUSALS = {
    UNKNOWN_NUMBER: (404, "Not Found"),
    CONCURRENCY_LIMIT: (486, "Busy Here (the tenant is at its concurrent call limit)"),
    NO_AGENT_VERSION: (480, "Temporarily Unavailable (the agent has no published version)"),
}


class InboundHost(CallHost, Protocol):
    gate: TrunkGate


def carrier_call_id(call_id: str) -> str:
    """The platform's id for a SIP call: its Call-ID, or a digest of one too long to store."""
    if len(call_id) <= 64:
        return call_id
    return "sip-" + hashlib.sha256(call_id.encode("utf-8", "surrogateescape")).hexdigest()[:56]


def caller_number(request: Request) -> str:
    """The caller as the platform records it: E.164 when the From user is a number."""
    uri = request.from_.uri
    user = uri.user if isinstance(uri, SipUri) else None
    return number_in(uri) or (user[:64] if user else "anonymous")


def custom_parameters(request: Request) -> dict[str, str]:
    """The INVITE's ``X-`` headers as the call's custom parameters: at most
    ``MAX_PARAMETERS``, names up to 64 characters, values up to 256, printable text only."""
    kept: dict[str, str] = {}
    for name, value in request.x_headers.items():
        if len(kept) == MAX_PARAMETERS or len(name) > 64:
            continue
        kept[name] = "".join(ch for ch in value if ch.isprintable())[:256]
    return kept


def _refuse(transaction: InviteServerTransaction, status: int, reason: str, *extra: str) -> None:
    request = transaction.request
    headers = [("Contact", f"<{extra[0]}>")] if extra else []
    transaction.respond(request.response(status, reason[:120], to_tag=new_tag(), headers=headers))


def _canceled(transaction: InviteServerTransaction) -> bool:
    return transaction.state is not State.PROCEEDING


async def answer_invite(
    host: InboundHost, transaction: InviteServerTransaction, peer: Peer
) -> None:
    """Take one new INVITE to its end: a 200 OK and a running call, or a final refusal."""
    request = transaction.request
    interval_refused = too_small(request)
    if interval_refused is not None:
        transaction.respond(
            request.response(
                422, "Session Interval Too Small", to_tag=new_tag(), headers=interval_refused
            )
        )
        return
    offer: SessionDescription | None = None
    if request.body:
        try:
            offer = SessionDescription.parse(request.body)
        except SdpError as exc:
            _refuse(transaction, 400, f"Bad Request (SDP: {exc})")
            return
    decision = await host.gate.check(request, peer)
    if isinstance(decision, Denied):
        response = request.response(
            decision.status, decision.reason, to_tag=new_tag(), headers=decision.headers
        )
        transaction.respond(response)
        return
    if _canceled(transaction):
        return
    sid = carrier_call_id(request.call_id)
    incoming = IncomingCall(
        carrier="sip",
        carrier_call_id=sid,
        from_number=caller_number(request),
        to_number=decision.number.e164,
        platform_number=decision.number.e164,
        custom_parameters=custom_parameters(request),
    )
    try:
        admission = await host.intake.admit(incoming)
    except NotTakingCalls:
        transaction.respond(
            request.response(503, "Service Unavailable (draining)", to_tag=new_tag(),
                             headers=[("Retry-After", "30")])
        )  # fmt: skip
        return
    except Invalid as exc:
        _refuse(transaction, 400, f"Bad Request ({exc})")
        return
    if isinstance(admission, Refused):
        if admission.transfer_to:
            target = admission.transfer_to
            if not target.startswith(("sip:", "sips:")):
                target = f"tel:{target}"
            _refuse(transaction, 302, "Moved Temporarily (the number's fallback)", target)
        else:
            status, reason = _REFUSALS.get(admission.reason, (503, "Service Unavailable"))
            _refuse(transaction, status, reason)
        return
    await _connect(host, transaction, peer, sid, offer)


async def _connect(
    host: InboundHost,
    transaction: InviteServerTransaction,
    peer: Peer,
    sid: str,
    offer: SessionDescription | None,
) -> None:
    request = transaction.request
    if _canceled(transaction):
        await host.intake.progress(CallProgress(sid, "canceled"))
        return
    try:
        sockets = host.allocator.bind()
    except NoRtpPort:
        _refuse(transaction, 503, "Service Unavailable (no free RTP port)")
        await host.intake.progress(CallProgress(sid, "failed"))
        return
    sdp = SdpSession(host.media_address, sockets.port)
    try:
        answer, params = sdp.answer(offer) if offer is not None else (sdp.offer(), UNNEGOTIATED)
    except (NotAcceptable, SdpError) as exc:
        sockets.close()
        host.allocator.release(sockets.port)
        _refuse(transaction, 488, f"Not Acceptable Here ({exc})")
        await host.intake.progress(CallProgress(sid, "failed"))
        return
    relay = MediaRelay()
    rtp = RtpEndpoint(sockets, params, relay, allocator=host.allocator)
    ok = request.response(
        200,
        to_tag=new_tag(),
        headers=[("Allow", ALLOW), ("Supported", "timer"), ("Content-Type", SDP)],
        body=answer.serialize(),
    )
    ok.contact = [host.contact(peer.transport)]
    try:
        dialog = Dialog.as_uas(request, ok)
    except DialogError as exc:
        await rtp.close()
        _refuse(transaction, 400, f"Bad Request ({exc})")
        await host.intake.progress(CallProgress(sid, "failed"))
        return
    call = SipCall(host, dialog, peer, rtp, relay, sdp, sid)
    for name, value in call.timer.answer(request):
        ok.headers.add(name, value)
    try:
        session = await host.intake.open_session(sid, f"rtp-{sockets.port}", call.connection)
    except MediaRefused as exc:
        await rtp.close()
        _refuse(transaction, 500, f"Server Internal Error ({exc})")
        return
    call.attach(session)
    host.register(call)
    if _canceled(transaction):
        await call.end_now("canceled")
        return
    await rtp.start()
    transaction.respond(ok)
    log.info("sip.answered", call_id=sid, peer=f"{peer.host}:{peer.port}", codec=params.codec)
