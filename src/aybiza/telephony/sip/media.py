"""One call's RTP endpoint: μ-law frames in and out over RTP and RTCP, on a 20 ms clock.

Inbound, packets from the latched source (``latch``) go through the jitter buffer; every 20 ms
slot yields one μ-law frame to the listener (PCMA converted by table), and telephone events
become digits. Outbound, queued audio leaves one frame per slot on the sender's drift-free
clock; marks fire once the audio queued before them has been sent, ``clear`` drops what is
queued at once (barge-in), and digits go out as RFC 4733 events. While nothing is queued the
stream carries silence, so NAT bindings, the far end's own latching and gateways' RTP
inactivity timers all stay satisfied; queued audio after silence starts with the marker bit.
While the far end holds the call (we may not send) the queue waits and marks do not fire.
RTCP reports (SR or RR, with SDES CNAME) go out every 5 s on average (§6.2), BYE on close.
Both directions are paced by the event loop's shared 20 ms ticker (``ticker``: one timer for
every call's endpoint, not a task per call); a task hands inbound frames to the listener so a
slow listener never delays sending. When this event loop stalls (the sender skips the slots it
missed), the far end's audio that piled up meanwhile is handed on a few frames a tick until the
buffer is back within its depth: the caller's words arrive late, not lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import struct
import time
from collections.abc import Callable
from typing import Protocol

import structlog

from aybiza.audio.alaw import ALAW_TO_ULAW, ULAW_TO_ALAW
from aybiza.audio.alaw import SILENCE_BYTE as ALAW_SILENCE
from aybiza.audio.codec import FRAME_BYTES, SILENCE_BYTE
from aybiza.telephony.sip import rtcp
from aybiza.telephony.sip.datagrams import MediaCounts, RtpDatagrams, address_or_none
from aybiza.telephony.sip.dtmf import DtmfError, DtmfReceiver, DtmfSender
from aybiza.telephony.sip.jitter import JitterBuffer
from aybiza.telephony.sip.latch import Address, RemoteLatch
from aybiza.telephony.sip.offer_answer import MediaParams
from aybiza.telephony.sip.ports import RtpPortAllocator, RtpSockets
from aybiza.telephony.sip.reports import RtcpReporter
from aybiza.telephony.sip.rtp import (
    HEADER_BYTES,
    Clock,
    MonotonicClock,
    RtpError,
    RtpPacket,
    RtpSender,
)
from aybiza.telephony.sip.sendqueue import SendQueue
from aybiza.telephony.sip.ticker import MediaTicker, ticker_for

log = structlog.get_logger(__name__)

REPORT_INTERVAL_S = 5.0  # RFC 3550 §6.2 minimum, randomised to 0.5-1.5 times
INBOUND_BACKLOG_FRAMES = 50  # 1 s of frames waiting for a stalled listener, then the oldest go
CATCH_UP_FRAMES = 5  # extra frames a tick while the jitter buffer holds a backlog
PLAIN_FIRST_BYTE = 0x80  # version 2, no padding, no extension, no CSRC
_AFTER_FIRST_BYTE = struct.Struct("!BHII")  # marker and type, sequence, timestamp, SSRC
_EARLY_S = 1e-6  # a slot due this much after the tick's grid time is the tick's own (float error)


class MediaListener(Protocol):
    """Who receives the call's media (the call loop: ``CallSession`` has this shape)."""

    async def on_audio(self, frame: bytes) -> None:
        """One inbound 20 ms μ-law frame."""

    async def on_dtmf(self, digit: str) -> None:
        """A digit the caller pressed."""

    def on_mark(self, name: str) -> None:
        """Everything queued before mark ``name`` has been sent."""


class RtpEndpoint:
    """RTP and RTCP for one call, on a bound port pair (see ``RtpPortAllocator``)."""

    def __init__(
        self,
        sockets: RtpSockets,
        params: MediaParams,
        listener: MediaListener,
        *,
        allocator: RtpPortAllocator | None = None,
        clock: Clock | None = None,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        cname: str | None = None,
        jitter: JitterBuffer | None = None,
        report_interval_s: float = REPORT_INTERVAL_S,
        max_late_slots: int = 5,
        audio_observer: Callable[[bytes | memoryview, float], None] | None = None,
    ) -> None:
        self.port = sockets.port
        self.counts = MediaCounts()
        self.jitter = jitter if jitter is not None else JitterBuffer()
        self._sockets = sockets
        self._allocator = allocator
        self._listener = listener
        self._clock = clock if clock is not None else MonotonicClock()
        self._rng = rng if rng is not None else random.SystemRandom()
        self.sender = RtpSender(
            self._transmit,
            params.payload_type,
            clock=self._clock,
            rng=self._rng,
            max_late_slots=max_late_slots,
        )
        self._report_interval_s = report_interval_s
        self.latch = RemoteLatch(address_or_none(params.remote_address, params.remote_port))
        self.reports = RtcpReporter(
            self.sender,
            cname or f"aybiza-{self.sender.ssrc:08x}@{sockets.rtp.getsockname()[0]}",
            self._clock,
            wall_clock,
        )
        self._params = params
        # Sees each admitted audio payload (μ-law) and its arrival on ``clock``, before the
        # jitter buffer: the simulated caller times the agent's answers by arrival.
        self._audio_observer = audio_observer
        self._queue = SendQueue()
        self._silence = bytes([SILENCE_BYTE]) * FRAME_BYTES
        self._dtmf_in = DtmfReceiver()
        self._dtmf_out = DtmfSender()
        self._dtmf_waiters: list[asyncio.Future[None]] = []
        self._rtcp_latched: Address | None = None
        self._idle = True
        self._inbound: asyncio.Queue[bytes | str] = asyncio.Queue()  # frames, digits
        self._transports: list[asyncio.DatagramTransport] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._ticker: MediaTicker | None = None
        self._next_report: float | None = None
        self._closed = False
        self._set_codec(params)

    @property
    def params(self) -> MediaParams:
        """What the last offer/answer agreed."""
        return self._params

    @property
    def queued_ms(self) -> int:
        """Outgoing audio not yet sent."""
        return self._queue.queued_ms

    async def start(self) -> None:
        """Start receiving, and sending on the loop's shared 20 ms ticker."""
        loop = asyncio.get_running_loop()
        for sock, receive in (
            (self._sockets.rtp, self._on_rtp),
            (self._sockets.rtcp, self._on_rtcp),
        ):
            transport, _ = await loop.create_datagram_endpoint(
                functools.partial(RtpDatagrams, receive), sock=sock
            )
            self._transports.append(transport)
        self._tasks = [asyncio.create_task(self._deliver())]
        for task in self._tasks:
            task.add_done_callback(self._task_ended)
        self._ticker = ticker_for(loop)
        self._ticker.add(self._on_tick)

    def _task_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("rtp.task_failed", port=self.port, exc_info=task.exception())

    def update(self, params: MediaParams) -> None:
        """A new offer/answer (re-INVITE): hold, resume, codec or address change."""
        old, self._params = self._params, params
        self.sender.payload_type = params.payload_type
        if params.codec != old.codec:
            self._set_codec(params)
            self._queue.recode(
                ULAW_TO_ALAW if params.codec == "PCMA" else ALAW_TO_ULAW, self._silence[0]
            )
            self.jitter.reset()
        signalled = address_or_none(params.remote_address, params.remote_port)
        if signalled != self.latch.signalled:
            self.latch.renegotiated(signalled)
            self._rtcp_latched = None

    def _set_codec(self, params: MediaParams) -> None:
        self._silence = (
            bytes([ALAW_SILENCE if params.codec == "PCMA" else SILENCE_BYTE]) * FRAME_BYTES
        )

    def send_audio(self, mulaw: bytes) -> None:
        """Queue μ-law audio for the far end, after everything queued so far."""
        self._queue.add_audio(
            mulaw.translate(ULAW_TO_ALAW) if self._params.codec == "PCMA" else mulaw
        )

    def mark(self, name: str) -> None:
        """Call ``on_mark(name)`` once everything queued before now has been sent."""
        self._queue.add_mark(name)

    def clear(self) -> dict[str, int]:
        """Drop all queued audio at once (barge-in); returns, for each mark dropped, the bytes
        of the audio queued just before it that were never sent (``SendQueue.clear``). The
        dropped marks fire right after, as Twilio's do after a clear: a mark after a clear does
        not mean its audio was heard."""
        loop = asyncio.get_running_loop()
        dropped = self._queue.clear()
        for name, _ in dropped:
            loop.call_soon(self._fire_mark, name)
        return dict(dropped)

    def send_dtmf(self, digits: str) -> asyncio.Future[None]:
        """Send digits as RFC 4733 events; the future is done once they have all been sent (or
        the endpoint closed). Raises ``DtmfError`` when the far end did not accept
        telephone-event, or for a character that is not a digit."""
        if self._params.telephone_event is None:
            raise DtmfError("the far end did not accept telephone-event in its SDP", "digits")
        self._dtmf_out.press(digits)
        sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._dtmf_waiters.append(sent)
        return sent

    def _dtmf_done(self) -> None:
        for sent in self._dtmf_waiters:
            if not sent.done():
                sent.set_result(None)
        self._dtmf_waiters.clear()

    def _transmit(self, datagram: memoryview) -> None:
        target = self.latch.target
        if target is None:
            return
        try:
            self._sockets.rtp.sendto(datagram, target)
        except (BlockingIOError, InterruptedError):
            self.counts.send_errors += 1  # a full socket buffer: drop, a late packet is no use
        except OSError as exc:
            self.counts.send_errors += 1
            log.debug("rtp.send_failed", error=str(exc))

    def _send_slot(self) -> None:
        params = self._params
        if not params.sends or self.latch.target is None:
            return
        if self._dtmf_out.busy and params.telephone_event is not None:
            event = self._dtmf_out.next_packet(self.sender.timestamp)
            if event is not None:
                self.sender.send(
                    event.payload,
                    marker=event.marker,
                    payload_type=params.telephone_event,
                    timestamp=event.timestamp,
                )
                return
        if self._dtmf_waiters and not self._dtmf_out.busy:
            self._dtmf_done()
        frame, marks = self._queue.take_frame()
        if frame is None:
            self.sender.send(self._silence)
        else:
            self.sender.send(frame, marker=self._idle)
        self._idle = frame is None
        for name in marks:
            self._fire_mark(name)

    def _fire_mark(self, name: str) -> None:
        try:
            self._listener.on_mark(name)
        except Exception:  # the listener's fault must not stop the call's clock
            log.exception("rtp.listener_failed", port=self.port)

    def _on_tick(self, when: float) -> None:
        """The ticker's call at grid time ``when``: every slot due by then (one, or a few
        after the loop stalled; the sender skips what is too late to send)."""
        sender = self.sender
        due = sender.next_due
        while due is None or due <= when + _EARLY_S:
            sender.advance(when)
            self._slot()
            due = sender.next_due

    def _slot(self) -> None:
        self._hand_inbound(self.jitter.pop())
        # A burst (this loop stalled, say) is caught up a few frames a tick, not lost.
        for _ in range(min(self.jitter.backlog_frames, CATCH_UP_FRAMES)):
            self._hand_inbound(self.jitter.pop())
        self._send_slot()
        now = self._clock.now()
        interval = self._report_interval_s
        if self._next_report is None:
            self._next_report = now + interval * self._rng.uniform(0.25, 0.75)
        elif now >= self._next_report:
            self._send_report()
            self._next_report = now + interval * self._rng.uniform(0.5, 1.5)

    def _hand_inbound(self, item: bytes | str) -> None:
        if isinstance(item, bytes) and self._inbound.qsize() >= INBOUND_BACKLOG_FRAMES:
            self._inbound.get_nowait()
            self.counts.inbound_dropped += 1
        self._inbound.put_nowait(item)

    async def _deliver(self) -> None:
        while True:
            item = await self._inbound.get()
            try:
                if isinstance(item, bytes):
                    await self._listener.on_audio(item)
                else:
                    await self._listener.on_dtmf(item)
            except Exception:  # one bad frame must not end the call's inbound audio
                log.exception("rtp.listener_failed", port=self.port)

    def _on_rtp(self, data: bytes, source: Address) -> None:
        self.counts.packets_in += 1
        end = len(data)
        if end >= HEADER_BYTES and data[0] == PLAIN_FIRST_BYTE:
            # The usual packet (no padding, extension or CSRC): read in place, no packet object.
            second, sequence, timestamp, ssrc = _AFTER_FIRST_BYTE.unpack_from(data, 1)
            marker, payload_type, start = second > 0x7F, second & 0x7F, HEADER_BYTES
        else:
            try:
                packet = RtpPacket.parse(data)
            except RtpError:
                self.counts.malformed += 1
                return
            marker, payload_type = packet.marker, packet.payload_type
            sequence, timestamp, ssrc = packet.sequence, packet.timestamp, packet.ssrc
            end -= packet.padding
            start = end - len(packet.payload)
        params = self._params
        audio = payload_type == params.payload_type
        if not audio and payload_type != params.telephone_event:
            self.counts.wrong_payload_type += 1
            return
        now = self._clock.now()
        if not self.latch.admit(source, ssrc, sequence, now) or not params.receives:
            return
        reception = self.reports.reception
        if reception is None or reception.ssrc != ssrc:
            self.jitter.reset()  # a new stream: its sequence and timestamps start elsewhere
            reception = self.reports.receiving(ssrc, sequence)
        reception.update(sequence, timestamp if audio else None, now)
        if not audio:
            event = memoryview(data)[start:end]
            digit = self._dtmf_in.receive(ssrc, timestamp, marker, event)
            if digit is not None:
                self._hand_inbound(digit)
            return
        # The payload's one copy, kept by the jitter buffer and handed on as the frame itself.
        payload = data[start:end]
        if params.codec == "PCMA":
            payload = payload.translate(ALAW_TO_ULAW)
        if self._audio_observer is not None:
            self._audio_observer(payload, now)
        self.jitter.put(sequence, timestamp, payload, marker=marker)

    def _rtcp_target(self) -> Address | None:
        if self._rtcp_latched is not None:
            return self._rtcp_latched
        return address_or_none(self._params.remote_address, self._params.remote_rtcp_port)

    def _on_rtcp(self, data: bytes, source: Address) -> None:
        self.counts.rtcp_in += 1
        try:
            packets = rtcp.parse_compound(data)
        except rtcp.RtcpError:
            self.counts.rtcp_malformed += 1
            return
        if self.reports.read(packets, self.latch.ssrc):
            self._rtcp_latched = source  # symmetric RTCP: where the media source's reports are

    def _send_report(self, *extra: rtcp.RtcpPacket) -> None:
        target = self._rtcp_target()
        if target is None:
            return
        try:
            self._sockets.rtcp.sendto(self.reports.compound(*extra), target)
        except OSError as exc:
            self.counts.send_errors += 1
            log.debug("rtcp.send_failed", error=str(exc))

    async def close(self, reason: str = "") -> None:
        """Stop the clock, send RTCP BYE, close the sockets and give the ports back."""
        if self._closed:
            return
        self._closed = True
        if self._ticker is not None:
            self._ticker.remove(self._on_tick)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._dtmf_done()
        self._send_report(rtcp.Bye((self.sender.ssrc,), reason))
        for transport in self._transports:
            transport.close()
        if not self._transports:
            self._sockets.close()
        if self._allocator is not None:
            self._allocator.release(self.port)
