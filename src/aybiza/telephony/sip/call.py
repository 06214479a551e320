"""``SipCall``: one established SIP call, either direction: its dialog, its RTP endpoint and
its call loop, from the 2xx to the BYE.

Requests inside the dialog arrive here (BYE, re-INVITE and UPDATE for hold, codec change and
session refresh, INFO DTMF, NOTIFY about a transfer). When the call loop finishes, the call
asks the platform what follows its media: a transfer (REFER, RFC 3515) or a BYE. A BYE from
the far end ends the loop as ``caller-hangup``; the BYE's Reason header (RFC 3326), and any
SIP status that ended the call, is kept in the call's stats as ``carrier_response``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Protocol

import structlog

from aybiza.outbound.guard import Guard
from aybiza.pipeline.session import CallSession
from aybiza.providers.errors import EngineError
from aybiza.telephony.carrier import CallIntake, CallProgress
from aybiza.telephony.sip.connection import MediaRelay, SipMediaConnection
from aybiza.telephony.sip.dialog import Dialog, DialogState
from aybiza.telephony.sip.endpoint import SipEndpoint
from aybiza.telephony.sip.headers import NameAddr, Via
from aybiza.telephony.sip.media import RtpEndpoint
from aybiza.telephony.sip.message import Request, Response
from aybiza.telephony.sip.offer_answer import SdpSession
from aybiza.telephony.sip.ports import RtpPortAllocator
from aybiza.telephony.sip.sdp import SdpError, SessionDescription
from aybiza.telephony.sip.session_timer import SessionTimer
from aybiza.telephony.sip.transaction_table import IncomingRequest
from aybiza.telephony.sip.transfer import refer_and_wait, transfer_target
from aybiza.telephony.sip.transport import Peer
from aybiza.telephony.sip.uri import Uri
from aybiza.timeouts import within

log = structlog.get_logger(__name__)

SDP = "application/sdp"
MEDIA_STATS_S = 1.0
ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO, REFER, NOTIFY"


class CallHost(Protocol):
    """What a call needs from the user agent that owns it."""

    endpoint: SipEndpoint
    intake: CallIntake
    allocator: RtpPortAllocator
    media_address: str
    guard: Guard
    # Seconds without RTP (off hold) after which the far end is taken as gone; 0: never.
    rtp_timeout_s: float

    def contact(self, transport: str) -> NameAddr: ...

    def local_host(self, transport: str) -> str: ...

    def register(self, call: SipCall) -> None: ...

    def forget(self, call: SipCall) -> None: ...

    async def flush(self) -> None: ...

    async def warm_transfer(self, call: SipCall, target: Uri, announcement: bytes) -> bool:
        """Consult ``target``, play it ``announcement``, then hand the caller over."""
        ...


def send_in_dialog(
    endpoint: SipEndpoint, request: Request, peer: Peer
) -> asyncio.Future[Response | None]:
    """Send a request inside a dialog; the future gets its final response (None on timeout or
    transport failure)."""
    done: asyncio.Future[Response | None] = asyncio.get_running_loop().create_future()

    def on_response(response: Response) -> None:
        if response.status >= 200 and not done.done():
            done.set_result(response)

    def on_failure(_: object) -> None:
        if not done.done():
            done.set_result(None)

    endpoint.send_request(request, peer, on_response=on_response, on_failure=on_failure)
    return done


class SipCall:
    """One call's dialog, media and loop."""

    def __init__(
        self,
        host: CallHost,
        dialog: Dialog,
        peer: Peer,
        rtp: RtpEndpoint,
        relay: MediaRelay,
        sdp: SdpSession,
        sid: str,
    ) -> None:
        self.sid = sid
        self.host = host
        self.dialog = dialog
        self.peer = peer
        self.rtp = rtp
        self.sdp = sdp
        self.relay = relay
        self.connection = SipMediaConnection(rtp, self._loop_closed)
        self.session: CallSession | None = None
        self.carrier_response: str | None = None
        self.ended = asyncio.Event()
        self._far_end_gone = False
        self._started = False
        self._ending: asyncio.Future[None] | None = None
        self._finishing: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.notifications: asyncio.Queue[str] = asyncio.Queue()
        self.timer = SessionTimer(self._refresh_expired, self._send_refresh)

    @property
    def call_id(self) -> str:
        """The dialog's Call-ID (``sid`` is the platform's id for the call)."""
        return self.dialog.call_id

    @property
    def confirmed(self) -> bool:
        """The dialog's 2xx was acknowledged and the loop started."""
        return self._started

    def attach(self, session: CallSession) -> None:
        """The call loop exists: media flows to it, and its end ends the call."""
        self.session = session
        self.relay.target = session
        self._spawn(self._end_when_finished(session), "sip-call-watch")
        self._spawn(self._count_media(session), "sip-call-media-stats")

    async def _count_media(self, session: CallSession) -> None:
        """Keep the loop's stats holding the media figures (the loop records its stats when
        it ends, whoever ends it): refreshed every second and once more at the end. A far end
        that sends no RTP for ``rtp_timeout_s`` while it should (not on hold) is gone without a
        BYE (a crashed phone, a lost network): the call ends."""
        loop = asyncio.get_running_loop()
        heard, quiet_since = -1, loop.time()
        while not session.finished.is_set():
            session.stats.media = media_summary(self.rtp)
            now, count = loop.time(), self.rtp.counts.packets_in
            timeout = self.host.rtp_timeout_s
            if count != heard or not self.rtp.params.receives:
                heard, quiet_since = count, now
            elif timeout > 0 and now - quiet_since >= timeout:
                self.carrier_response = f"no RTP from the far end for {timeout:g} s"
                session.stats.carrier_response = self.carrier_response
                log.warning("sip.rtp_timeout", call_id=self.sid, seconds=timeout)
                # Not one of this call's own tasks: ending cancels those.
                self._ending = asyncio.ensure_future(self.end_now("stream-failed"))
                return
            with contextlib.suppress(TimeoutError):
                await within(session.finished.wait(), MEDIA_STATS_S)

    async def start_loop(self) -> None:
        """The dialog is confirmed (ACK received or sent): the agent greets the caller."""
        if self._started or self.session is None or self.ended.is_set():
            return
        self._started = True
        await self.session.start()

    # ------------------------------------------------------------------ requests

    def request_received(self, incoming: IncomingRequest) -> None:
        request = incoming.request
        transaction = incoming.transaction
        if request.method == "ACK" or transaction is None:
            return
        status = self.dialog.receive_request(request)
        if status is not None:
            transaction.respond(request.response(status))
            return
        method = request.method
        if method == "BYE":
            transaction.respond(request.response(200))
            self.carrier_response = _bye_reason(request)
            self._far_end_gone = True
            self._spawn(self._far_end_hung_up(), "sip-bye")
        elif method in ("INVITE", "UPDATE"):
            self._refresh(request, transaction.respond)
        elif method == "INFO":
            transaction.respond(request.response(200))
            digit = _info_digit(request)
            if digit is not None and self.session is not None:
                self._spawn(self.session.on_dtmf(digit), "sip-info-dtmf")
        elif method == "NOTIFY":
            transaction.respond(request.response(200))
            self.notifications.put_nowait(request.body.decode("utf-8", "replace"))
        elif method == "OPTIONS":
            transaction.respond(request.response(200, headers=[("Allow", ALLOW)]))
        else:
            transaction.respond(request.response(405, headers=[("Allow", ALLOW)]))

    def _refresh(self, request: Request, respond: Callable[[Response], None]) -> None:
        """A re-INVITE or UPDATE: a new offer (hold, resume, codec or address change) or a
        session refresh without one."""
        answer: SessionDescription | None = None
        if request.body:
            try:
                answer, params = self.sdp.answer(SessionDescription.parse(request.body))
            except SdpError as exc:
                respond(request.response(488, f"Not Acceptable Here ({exc})"[:120]))
                return
            self.rtp.update(params)
        elif request.method == "INVITE":
            answer = self.sdp.offer()  # late offer: the answer comes in the ACK
        headers = [("Allow", ALLOW), ("Supported", "timer")]
        headers += self.timer.refreshed(request)
        body = b""
        if answer is not None:
            headers.append(("Content-Type", SDP))
            body = answer.serialize()
        response = request.response(200, headers=headers, body=body)
        response.contact = [self.host.contact(self.peer.transport)]
        respond(response)

    def acknowledged(self, request: Request) -> None:
        """The ACK of a 2xx we sent: an answer in it completes a late offer."""
        if request.body:
            with contextlib.suppress(SdpError):
                self.rtp.update(self.sdp.accept_answer(SessionDescription.parse(request.body)))

    # ------------------------------------------------------------------ ending

    def _loop_closed(self, reason: str) -> None:
        if self.session is None or self.session.finished.is_set():
            self._finish_soon()

    async def _end_when_finished(self, session: CallSession) -> None:
        await session.finished.wait()
        self._finish_soon()

    def _finish_soon(self) -> None:
        if self._finishing is None:
            self._finishing = asyncio.create_task(self._finish(), name="sip-call-finish")

    async def _finish(self) -> None:
        """After the loop: transfer (REFER) or hang up (BYE), then release the media."""
        try:
            await self.host.flush()
            if not self._far_end_gone and self.dialog.state is DialogState.CONFIRMED:
                after = await self.host.intake.after_media(self.sid)
                target = after.transfer_to or after.fallback
                transferred = False
                if target:
                    transferred = await self._transfer(target, after.summary)
                if not self._far_end_gone and self.dialog.state is DialogState.CONFIRMED:
                    reason = None if transferred else 'SIP;cause=200;text="Call completed"'
                    bye = self.dialog.bye(self._via(), reason)
                    await within(send_in_dialog(self.host.endpoint, bye, self.peer), 8.0)
        except TimeoutError:
            log.info("sip.bye_unanswered", call_id=self.call_id)
        finally:
            await self._release()

    async def _transfer(self, target: str, summary: str) -> bool:
        """Warm (consult the target and speak the summary first) when there is a summary,
        else blind; a failed warm transfer falls back to blind."""
        uri = transfer_target(target, self.dialog)
        if summary and self.session is not None:
            try:
                audio = await self.session.voices.speak_once(
                    f"Transferred call from the AI agent. {summary}"
                )
            except EngineError:
                log.warning("sip.summary_unspoken", call_id=self.sid, exc_info=True)
            else:
                if await self.host.warm_transfer(self, uri, audio):
                    return True
        return await refer_and_wait(
            self.host.endpoint, self.dialog, self.peer, self._via(), uri, self.notifications
        )

    async def _far_end_hung_up(self) -> None:
        session = self.session
        if session is not None:
            session.stats.media = media_summary(self.rtp)
            if self.carrier_response:
                session.stats.carrier_response = self.carrier_response
            await session.end("caller-hangup")
        else:
            await self.host.intake.progress(CallProgress(self.sid, "completed"))
        self._finish_soon()

    async def end_now(self, reason: str) -> None:
        """End the call from this side (server shutdown, lost ACK)."""
        if self.session is not None:
            self.session.stats.media = media_summary(self.rtp)
            await self.session.end(reason)
        self._finish_soon()
        if self._finishing is not None:
            await self._finishing

    async def _release(self) -> None:
        self.timer.cancel()
        self.connection.closed = True
        await self.rtp.close("call ended")
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()
        self.ended.set()
        self.host.forget(self)

    # ------------------------------------------------------------------ session timer

    async def _refresh_expired(self) -> None:
        log.warning("sip.session_expired", call_id=self.call_id)
        self.carrier_response = "session timer expired (RFC 4028)"
        if self.session is not None:
            self.session.stats.carrier_response = self.carrier_response
        await self.end_now("stream-failed")

    async def _send_refresh(self) -> None:
        if self.dialog.state is not DialogState.CONFIRMED:
            return
        headers = [("Supported", "timer"), *self.timer.request_headers()]
        offer = self.sdp.offer()
        request = self.dialog.reinvite(self._via(), offer.serialize(), headers)
        request.contact = [self.host.contact(self.peer.transport)]
        response = await send_in_dialog(self.host.endpoint, request, self.peer)
        if response is not None and 200 <= response.status < 300:
            self.host.endpoint.send_stateless(
                self.dialog.ack(request.cseq.number, self._via()), self.peer
            )
            with contextlib.suppress(SdpError):
                if response.body:
                    self.rtp.update(self.sdp.accept_answer(SessionDescription.parse(response.body)))

    # ------------------------------------------------------------------ helpers

    def _via(self) -> Via:
        return self.host.endpoint.transport(self.peer.transport).via()

    def _spawn(self, work: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(work)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def media_summary(rtp: RtpEndpoint) -> dict[str, float]:
    """What the call's media looked like, for the call record: RTP packets received, lost and
    arrived too late to play, frames concealed, interarrival jitter (ms), send errors."""
    reception = rtp.reports.reception
    return {
        "packets_in": rtp.counts.packets_in,
        "lost": reception.lost if reception is not None else 0,
        "late": rtp.jitter.stats.late,
        "concealed_frames": rtp.jitter.stats.concealed_frames,
        "jitter_ms": round(reception.jitter / 8, 2) if reception is not None else 0.0,
        "malformed": rtp.counts.malformed,
        "send_errors": rtp.counts.send_errors,
    }


def _bye_reason(request: Request) -> str:
    reason = request.headers.get("Reason")
    return f"BYE ({reason})" if reason else "BYE"


def _info_digit(request: Request) -> str | None:
    """A digit from an INFO body (``application/dtmf-relay``: ``Signal=5``; or
    ``application/dtmf``: ``5``)."""
    kind = (request.content_type or "").split(";")[0].strip().lower()
    text = request.body.decode("ascii", "replace").strip()
    if kind == "application/dtmf-relay":
        for line in text.splitlines():
            name, _, value = line.partition("=")
            if name.strip().lower() == "signal":
                text = value.strip()
                break
        else:
            return None
    elif kind != "application/dtmf":
        return None
    return text if len(text) == 1 and text in "0123456789*#ABCDabcd" else None
