"""A simulated phone call over SIP and RTP: a user agent of its own, built from the SIP layers.

``SipSimulatedCall.dial`` sends an INVITE with an SDP offer (PCMU, PCMA, telephone-event),
acknowledges the 2xx and runs an ``RtpEndpoint``: the caller's μ-law leaves on its drift-free
20 ms clock (silence while the caller is quiet), keys go out as RFC 4733 events, and the
agent's audio comes back through the jitter buffer into what the caller heard. Answers are
timed from the arrival of the agent's first non-silent packet after the caller stops (the
greeting from the ACK), as the Twilio simulator times them from the first media message. It is
a ``ScriptedCall``: the same script runner and report as a Twilio call.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from aybiza.audio.codec import FRAME_BYTES, SILENCE_BYTE
from aybiza.simulator.caller_audio import last_voiced_frame
from aybiza.simulator.errors import CallEndedError
from aybiza.simulator.latency import CallerTurn, LatencyClock
from aybiza.simulator.scripted_call import CarrierName
from aybiza.simulator.sip_agent import CallerAgent, EstablishedCall
from aybiza.simulator.sip_dialer import (
    SipCallError,
    SipTarget,
    bind_rtp_pair,
    caller_invite,
    place_invite,
    resolve_target,
)
from aybiza.simulator.twilio_client import DEFAULT_CALLER
from aybiza.simulator.waiting import CallChanges
from aybiza.telephony.sip.call import send_in_dialog
from aybiza.telephony.sip.dialing import TrunkCredentials
from aybiza.telephony.sip.dialog import Dialog, DialogError, DialogState
from aybiza.telephony.sip.dtmf import DtmfError
from aybiza.telephony.sip.endpoint import SipEndpoint
from aybiza.telephony.sip.inbound import carrier_call_id
from aybiza.telephony.sip.media import RtpEndpoint
from aybiza.telephony.sip.offer_answer import NotAcceptable, SdpSession
from aybiza.telephony.sip.ports import RtpSockets
from aybiza.telephony.sip.sdp import SdpError, SessionDescription
from aybiza.timeouts import within

# μ-law zero comes as 0xFF (+0) or 0x7F (-0); a payload of nothing else is silence.
_ZEROS = bytes([SILENCE_BYTE, 0x7F])
BYE_WAIT_S = 5.0


def _silent(payload: bytes | memoryview) -> bool:
    return not bytes(payload).strip(_ZEROS)


class SipSimulatedCall:
    """One call from a simulated SIP caller; build it with ``dial``. A ``ScriptedCall``."""

    carrier: CarrierName = "sip"

    def __init__(self, target: SipTarget) -> None:
        self._agent = CallerAgent(self)
        self._endpoint = SipEndpoint(self._agent)
        self._agent.endpoint = self._endpoint
        self.target = target
        self.call_id = f"{uuid.uuid4().hex}@{target.local_host}"
        # The platform records a SIP call under its Call-ID (a digest of one too long).
        self.call_sid = carrier_call_id(self.call_id)
        self.opened_at = time.monotonic()
        self.closed_by_server = False
        self.ending = ""
        self.end_problem: str | None = None
        self.transferred_to: str | None = None
        self.ended_at: float | None = None
        # Digits the agent sent as RFC 4733 events, in order.
        self.digits_heard: list[str] = []
        self.rtp: RtpEndpoint | None = None
        self._dialog: Dialog | None = None
        self._latency = LatencyClock()
        self._changes = CallChanges(lambda: self.ended_at is not None)
        self._heard = bytearray()
        self._last_audio_at = self.opened_at
        self._utterances = 0
        self._speaking: dict[str, asyncio.Future[None]] = {}  # end mark -> say() waiting
        self._hanging_up = False
        self._closed = False
        self._media_closing: asyncio.Future[None] | None = None

    @classmethod
    async def dial(
        cls,
        uri: str,
        *,
        from_: str = DEFAULT_CALLER,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
    ) -> SipSimulatedCall:
        """Call ``uri`` (``sip:+15005550006@127.0.0.1:5060``, ``;transport=tcp`` for TCP) and
        return once the call is answered and media flows. Raises ``SipCallError`` saying why
        the call could not be placed (a bad URI, no server, a SIP refusal with its status)."""
        target = await resolve_target(uri)
        call = cls(target)
        try:
            await call._endpoint.listen(target.peer.transport, target.local_host, 0)
        except OSError as exc:
            await call._close()
            raise SipCallError(f"cannot open a SIP socket on {target.local_host}: {exc}") from exc
        try:
            sockets = bind_rtp_pair(target.local_host)
        except SipCallError:
            await call._close()
            raise
        credentials = None
        if username is not None and password is not None:
            credentials = TrunkCredentials(username, password)
        try:
            await call._connect(sockets, from_, credentials, timeout_s)
        except BaseException:
            sockets.close()
            await call._close()
            raise
        return call

    async def _connect(
        self,
        sockets: RtpSockets,
        from_: str,
        credentials: TrunkCredentials | None,
        timeout_s: float,
    ) -> None:
        target = self.target
        transport = self._endpoint.transport(target.peer.transport)
        sdp = SdpSession(target.local_host, sockets.port, username="aybiza-call")
        invite = caller_invite(
            self._endpoint,
            target,
            call_id=self.call_id,
            from_number=from_,
            offer=sdp.offer().serialize(),
        )
        contact = invite.contact[0]
        attempt, response = await place_invite(
            self._endpoint, target, invite, credentials, timeout_s
        )
        try:
            dialog = Dialog.as_uac(attempt.request, response)
        except DialogError as exc:
            raise SipCallError(f"the server's 2xx cannot start a call: {exc}") from exc
        ack = dialog.ack(attempt.request.cseq.number, transport.via())
        attempt.ack, attempt.send_ack = ack, self._endpoint.send_stateless
        self._dialog = dialog
        try:
            params = sdp.accept_answer(SessionDescription.parse(response.body))
        except (SdpError, NotAcceptable) as exc:
            self._endpoint.send_stateless(ack, target.peer)
            await self._send_bye()
            raise SipCallError(f"the server's SDP answer cannot be used: {exc}") from exc
        rtp = RtpEndpoint(sockets, params, self, audio_observer=self._agent_packet)
        self.rtp = rtp
        self._agent.call = EstablishedCall(dialog, target.peer, contact, sdp, rtp, ack)
        await rtp.start()
        self._latency.stream_started(time.monotonic())
        self._endpoint.send_stateless(ack, target.peer)

    # ------------------------------------------------------------------ the caller acts

    async def say(self, mulaw: bytes) -> None:
        """Speak ``mulaw`` (μ-law 8 kHz) over RTP at real-time pace, after anything already
        queued; return when its last frame was sent. The agent's answer is timed from the send
        of its last voiced frame."""
        rtp = self._live()
        if not mulaw:
            return
        self._utterances += 1
        voiced_end = (last_voiced_frame(mulaw) + 1) * FRAME_BYTES
        sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._speaking[f"said-{self._utterances}"] = sent
        rtp.send_audio(mulaw[:voiced_end])
        rtp.mark(f"voiced-{self._utterances}")
        if mulaw[voiced_end:]:
            rtp.send_audio(mulaw[voiced_end:])
        rtp.mark(f"said-{self._utterances}")
        self._latency.caller_started()
        await sent

    async def send_dtmf(self, digit: str) -> None:
        """Press one key as RFC 4733 events; the agent's answer is timed from here. Raises
        ``CallEndedError``, or ``SipCallError`` when the server did not accept telephone-event."""
        rtp = self._live()
        try:
            rtp.send_dtmf(digit)
        except DtmfError as exc:
            raise SipCallError(f"cannot press {digit!r}: {exc}") from exc
        self._latency.caller_stopped("dtmf", time.monotonic())
        self._changes.notify()

    async def hangup(self) -> None:
        """Hang up: BYE (unless the agent already did), then stop the media. Idempotent."""
        if not self._hanging_up:
            self._hanging_up = True
            if self.ended_at is None:
                await self._send_bye()
                self._ended()
        await self._close()

    async def _send_bye(self) -> None:
        dialog = self._dialog
        if dialog is None or dialog.state is not DialogState.CONFIRMED:
            return
        peer = self.target.peer
        bye = dialog.bye(self._endpoint.transport(peer.transport).via())
        try:
            await within(send_in_dialog(self._endpoint, bye, peer), BYE_WAIT_S)
        except TimeoutError:
            self.end_problem = f"the server did not answer the BYE within {BYE_WAIT_S:g} s"

    # ------------------------------------------------------------------ waits (ScriptedCall)

    async def wait_for_agent_audio(self, timeout: float) -> float:  # noqa: ASYNC109
        """Wait for the agent's answer to the caller's latest action (or for the greeting) and
        return its latency in seconds. Raises TimeoutError, or CallEndedError if the call ends."""
        return await self._changes.answer(self._latency, timeout)

    async def wait_until_agent_done(self, *, quiet_ms: int = 1200, timeout: float) -> None:  # noqa: ASYNC109
        """Wait until no agent audio came for ``quiet_ms`` (RTP plays as it arrives); return
        at once if the call has ended. Raises TimeoutError."""
        await self._changes.quiet(lambda: self._last_audio_at + quiet_ms / 1000, timeout)

    async def wait_until_ended(self, timeout: float) -> None:  # noqa: ASYNC109
        """Wait until the call is over (the agent sent BYE). Raises TimeoutError."""
        await self._changes.wait_until(lambda: False, timeout)

    # ------------------------------------------------------------------ what happened

    @property
    def ended(self) -> bool:
        return self.ended_at is not None

    @property
    def played_audio(self) -> bytes:
        """What the caller heard: the agent's stream as its jitter buffer played it, 20 ms a
        frame from the answer on."""
        return bytes(self._heard)

    @property
    def greeting_latency(self) -> float | None:
        """Seconds from the ACK to the greeting's first audio, if it came before the caller
        did anything."""
        return self._latency.greeting_latency_s

    @property
    def caller_turns(self) -> list[CallerTurn]:
        """Every utterance and key press, with when it ended and when the agent answered."""
        return list(self._latency.turns)

    @property
    def protocol_errors(self) -> list[str]:
        """RTP from the agent a phone would have discarded."""
        if self.rtp is None:
            return []
        counts = self.rtp.counts
        errors = []
        if counts.malformed:
            errors.append(f"{counts.malformed} RTP packets were malformed")
        if counts.wrong_payload_type:
            errors.append(f"{counts.wrong_payload_type} RTP packets had an unnegotiated type")
        if self.rtp.latch.dropped:
            errors.append(f"{self.rtp.latch.dropped} RTP packets came from another address")
        return errors

    # ------------------------------------------------------------------ media (MediaListener)

    async def on_audio(self, frame: bytes) -> None:
        if self.ended_at is None:
            self._heard += frame

    async def on_dtmf(self, digit: str) -> None:
        self.digits_heard.append(digit)
        self._changes.notify()

    def on_mark(self, name: str) -> None:
        if name.startswith("voiced-"):
            self._latency.caller_stopped("speech", time.monotonic())
            self._changes.notify()
            return
        sent = self._speaking.pop(name, None)
        if sent is not None and not sent.done():
            sent.set_result(None)

    def _agent_packet(self, payload: bytes | memoryview, at: float) -> None:
        if self.ended_at is None and not _silent(payload):
            self._latency.agent_audio(at)
            self._last_audio_at = at
            self._changes.notify()

    # ------------------------------------------------------------------ ending

    def far_end_hung_up(self, reason: str | None) -> None:
        """The agent's side sent BYE: the call is over (``FarEndEvents``)."""
        if self.ended_at is not None:
            return
        self.closed_by_server = not self._hanging_up
        self.ending = f"BYE, {reason}" if reason else "BYE"
        self._ended()
        if self.rtp is not None:
            self._media_closing = asyncio.ensure_future(self.rtp.close("BYE received"))

    def transferred(self, target: str) -> None:
        """The agent transferred the call (REFER to ``target``; ``FarEndEvents``)."""
        self.transferred_to = target

    def _ended(self) -> None:
        if self.ended_at is None:
            self.ended_at = time.monotonic()
        ended = CallEndedError("the call ended before the caller finished")
        for sent in self._speaking.values():
            if not sent.done():
                sent.set_exception(ended)
        self._speaking.clear()
        self._changes.notify()

    def _live(self) -> RtpEndpoint:
        if self.ended_at is not None or self._hanging_up or self.rtp is None:
            raise CallEndedError(f"call {self.call_sid} is over")
        return self.rtp

    async def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._media_closing is not None:
            await self._media_closing
        if self.rtp is not None:
            await self.rtp.close("hung up")
        await self._agent.aclose()
        await self._endpoint.close()
