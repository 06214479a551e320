"""Warm (attended) transfer over SIP, built on REFER (RFC 5589 §7, RFC 3891 Replaces).

When the agent transfers with a summary, the caller is not sent away blind: AYBIZA first calls
the target itself (the consultation call: a number through the caller's trunk, a SIP URI at its
own host), speaks the summary to the person who answers in the agent's voice, and then asks
the caller's side to replace that consultation call with the caller: a REFER whose
``Refer-To`` is the target's Contact carrying ``Replaces`` (the consultation dialog's
Call-ID and tags). The target's phone swaps the consultation for the caller and hangs up on
us. If the target does not answer, or the caller's side refuses the REFER, the consultation
ends and the caller gets a blind transfer instead (``SipCall`` falls back).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import structlog

from aybiza.outbound.guard import Refused, Unresolvable
from aybiza.telephony.sip.call import ALLOW, CallHost, SipCall
from aybiza.telephony.sip.connection import MediaRelay
from aybiza.telephony.sip.dialing import InviteAttempt, cancel_for, new_invite
from aybiza.telephony.sip.dialog import Dialog, DialogError
from aybiza.telephony.sip.media import RtpEndpoint
from aybiza.telephony.sip.offer_answer import NotAcceptable, SdpSession
from aybiza.telephony.sip.ports import NoRtpPort, RtpSockets
from aybiza.telephony.sip.sdp import SdpError, SessionDescription
from aybiza.telephony.sip.transfer import refer_and_wait
from aybiza.telephony.sip.transport import DEFAULT_PORTS, Peer
from aybiza.telephony.sip.uri import SipUri, Uri
from aybiza.timeouts import within

log = structlog.get_logger(__name__)

RING_S = 30.0
ANNOUNCED = "summary-heard"


class _Heard:
    """The consultation leg's listener: only the mark after the summary matters."""

    def __init__(self) -> None:
        self.done = asyncio.Event()

    async def on_audio(self, frame: bytes) -> None:
        return None

    async def on_dtmf(self, digit: str) -> None:
        return None

    def on_mark(self, name: str) -> None:
        if name == ANNOUNCED:
            self.done.set()


async def _consult_peer(host: CallHost, target: Uri, caller: SipCall) -> Peer | None:
    """Where the consultation INVITE goes: a SIP URI with its own host there (checked like any
    outbound target), a number through the caller's side."""
    if not isinstance(target, SipUri):
        return None
    remote = caller.dialog.remote_target
    if isinstance(remote, SipUri) and (target.host, target.port) == (remote.host, remote.port):
        return caller.peer
    transport = target.transport or caller.peer.transport
    port = target.port or DEFAULT_PORTS.get(transport, 5060)
    try:
        addresses = await host.guard.check_host(target.host, port)
    except (Refused, Unresolvable) as exc:
        log.warning("sip.consult_refused", target=str(target), why=str(exc))
        return None
    return Peer(transport, str(addresses[0]), port)


async def attended_transfer(caller: SipCall, target: Uri, announcement: bytes) -> bool:
    """Consult ``target``, play ``announcement`` to it, then REFER the caller to replace the
    consultation; True when the caller's side reports the transfer done."""
    host = caller.host
    peer = await _consult_peer(host, target, caller)
    if peer is None or not isinstance(target, SipUri):
        return False
    try:
        sockets = host.allocator.bind()
    except NoRtpPort:
        return False
    sdp = SdpSession(host.media_address, sockets.port)
    local = caller.dialog.local_uri.uri
    invite = new_invite(
        target=target,
        from_user=local.user if isinstance(local, SipUri) and local.user else "aybiza",
        local_host=host.local_host(peer.transport),
        contact=host.contact(peer.transport),
        call_id=f"{uuid.uuid4().hex}@{host.local_host(peer.transport)}",
        via=host.endpoint.transport(peer.transport).via(),
        sdp=sdp.offer().serialize(),
        headers=[("Allow", ALLOW)],
    )
    attempt = InviteAttempt(invite, peer)
    attempt.transaction = host.endpoint.send_request(
        invite, peer, on_response=attempt.on_response, on_failure=attempt.on_failure
    )
    consult = await _answered(host, attempt, sdp, sockets)
    if consult is None:
        return False
    heard = _Heard()
    consult.relay.target = heard
    consult.rtp.send_audio(announcement)
    consult.rtp.mark(ANNOUNCED)
    with contextlib.suppress(TimeoutError):
        await within(heard.done.wait(), len(announcement) / 8000 + 5)
    dialog = consult.dialog
    remote = dialog.remote_target
    refer_to = SipUri(
        remote.host if isinstance(remote, SipUri) else target.host,
        user=remote.user if isinstance(remote, SipUri) else target.user,
        port=remote.port if isinstance(remote, SipUri) else target.port,
        headers={
            "Replaces": f"{dialog.call_id};to-tag={dialog.remote_tag};from-tag={dialog.local_tag}"
        },
    )
    via = host.endpoint.transport(caller.peer.transport).via()
    done = await refer_and_wait(
        host.endpoint, caller.dialog, caller.peer, via, refer_to, caller.notifications
    )
    # Replaced, the target hangs up on the consultation; otherwise we end it.
    with contextlib.suppress(TimeoutError):
        await within(consult.ended.wait(), 5.0 if done else 0.01)
    if not consult.ended.is_set():
        await consult.end_now("transferred")
    return done


async def _answered(
    host: CallHost, attempt: InviteAttempt, sdp: SdpSession, sockets: RtpSockets
) -> SipCall | None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RING_S
    while True:
        response = await attempt.next(max(0.0, deadline - loop.time()))
        if response is None or response.status >= 300:
            if response is None and attempt.provisional:
                host.endpoint.send_request(
                    cancel_for(attempt.request),
                    attempt.peer,
                    on_response=lambda _: None,
                    on_failure=lambda _: None,
                )
            elif response is None:
                attempt.abandon()
            sockets.close()
            host.allocator.release(sockets.port)
            return None
        if response.status >= 200:
            break
    invite = attempt.request
    try:
        dialog = Dialog.as_uac(invite, response)
        params = sdp.accept_answer(SessionDescription.parse(response.body))
    except (DialogError, SdpError, NotAcceptable) as exc:
        log.warning("sip.consult_unusable", error=str(exc))
        sockets.close()
        host.allocator.release(sockets.port)
        return None
    via = host.endpoint.transport(attempt.peer.transport).via()
    ack = dialog.ack(invite.cseq.number, via)
    attempt.ack, attempt.send_ack = ack, host.endpoint.send_stateless
    host.endpoint.send_stateless(ack, attempt.peer)
    relay = MediaRelay()
    rtp = RtpEndpoint(sockets, params, relay, allocator=host.allocator)
    consult = SipCall(host, dialog, attempt.peer, rtp, relay, sdp, invite.call_id[:64])
    host.register(consult)
    await rtp.start()
    return consult
