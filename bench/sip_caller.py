"""One caller of the SIP load generator (``bench.sip_crowd``): what it says, sent by the crowd's
ticker one RTP packet a tick, and what it hears, one packet at a time."""

from __future__ import annotations

import asyncio
import random
import struct
import time
from collections import deque
from typing import TYPE_CHECKING

from aybiza.audio.codec import FRAME_BYTES
from aybiza.simulator.caller_audio import SILENT_FRAME
from aybiza.simulator.earpiece import ReceivedEvent
from aybiza.simulator.errors import CallEndedError
from aybiza.simulator.latency import CallerTurn, LatencyClock
from aybiza.telephony.sip.call import send_in_dialog
from aybiza.telephony.sip.dialog import Dialog, DialogState
from aybiza.telephony.sip.inbound import carrier_call_id
from aybiza.telephony.sip.ports import RtpSockets
from aybiza.telephony.sip.transport import Peer
from bench.sip_playout import PhonePlayout, SipLine

if TYPE_CHECKING:
    from bench.sip_crowd import SipCrowd

_HEADER = struct.Struct("!BBHII")
_TIMESTAMP = struct.Struct("!I")
PACKET_BYTES = 12 + FRAME_BYTES


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class _Ear(asyncio.DatagramProtocol):
    """The RTP socket of one caller: every packet from the agent goes to its caller."""

    def __init__(self, caller: SipCaller) -> None:
        self._caller = caller

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self._caller.heard(data, time.monotonic())


class SipCaller:
    """One call in a ``SipCrowd``: its dialog, its RTP socket, what it says and hears. Offers
    what ``bench.loadgen.run_call`` uses of a caller."""

    def __init__(self, crowd: SipCrowd, dialog: Dialog, peer: Peer, sockets: RtpSockets) -> None:
        self._crowd = crowd
        self.dialog = dialog
        self.peer = peer
        self.sockets = sockets
        self.call_sid = carrier_call_id(dialog.call_id)
        self.opened_at = time.monotonic()
        self.latency = LatencyClock()
        self.received_events: list[ReceivedEvent] = []
        self.clears: list[float] = []
        self.playout = PhonePlayout()
        self.last_media_at = self.opened_at
        self.ended_at: float | None = None
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.next_tick = 0
        self.phase_s = 0.0
        self.slot = 0
        self.target: tuple[str, int] = ("127.0.0.1", 0)
        self.payload_type = 0
        self._buffer = bytearray(PACKET_BYTES)
        self._ssrc = random.getrandbits(32)
        self._sequence = random.getrandbits(16)
        self._timestamp = random.getrandbits(32)
        self._line: SipLine | None = None
        self._frame = 0
        self._line_sent: asyncio.Future[None] | None = None
        self._queued: deque[tuple[SipLine, asyncio.Future[None]]] = deque()
        self._agent_speaking = False
        self._hanging_up = False
        self._waiter: asyncio.Future[None] | None = None
        self._transport: asyncio.DatagramTransport | None = None

    # -- the script's side (as bench.twilio_caller.Caller)

    @property
    def ended(self) -> bool:
        return self.ended_at is not None

    @property
    def greeting_latency(self) -> float | None:
        return self.latency.greeting_latency_s

    @property
    def caller_turns(self) -> list[CallerTurn]:
        return list(self.latency.turns)

    @property
    def turn_latencies(self) -> list[float]:
        return [t.latency_s for t in self.latency.turns if t.latency_s is not None]

    async def say(self, line: SipLine) -> None:
        if self.ended_at is not None or self._hanging_up:
            raise CallEndedError(f"call {self.call_sid} is over")
        sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._line is None:
            self._line, self._frame, self._line_sent = line, 0, sent
        else:
            self._queued.append((line, sent))
        self.latency.caller_started()
        await sent

    async def wait_for_agent_audio(self, timeout: float) -> float:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while (latency := self.latency.current_answer()) is None:
            if self.ended_at is not None:
                raise CallEndedError("the call ended before the agent answered")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"nothing from the agent within {timeout:g} s")
            await self._wait_change(remaining)
        return latency

    async def wait_until_agent_done(self, *, quiet_ms: int = 1200, timeout: float) -> None:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while self.ended_at is None:
            now = time.monotonic()
            idle_at = self.last_media_at + quiet_ms / 1000  # RTP plays as it arrives
            if now >= idle_at:
                return
            if now >= deadline:
                raise TimeoutError(f"the agent was still speaking after {timeout:g} s")
            await self._wait_change(min(idle_at, deadline) - now)

    async def hangup(self) -> None:
        """Leave the ticker, BYE (unless the agent hung up), close the RTP sockets."""
        if not self._hanging_up:
            self._hanging_up = True
            self._crowd.leave(self)
            if self.ended_at is None and self.dialog.state is DialogState.CONFIRMED:
                endpoint = self._crowd.endpoint
                bye = self.dialog.bye(endpoint.transport(self.peer.transport).via())
                try:
                    await asyncio.wait_for(send_in_dialog(endpoint, bye, self.peer), 5.0)
                except TimeoutError:
                    self.close_reason = "BYE unanswered"
                self._ended()
            if self._transport is not None:
                self._transport.close()
            self.sockets.rtcp.close()

    # -- the crowd's side

    async def open_media(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Ear(self), sock=self.sockets.rtp
        )
        self._transport = transport

    def send_frames(self, count: int) -> None:
        """Send the next ``count`` packets (speech or silence), one per tick owed."""
        self.next_tick += count
        sendto = self.sockets.rtp.sendto
        buffer = self._buffer
        for _ in range(count):
            line = self._line
            index = self._frame
            frame = SILENT_FRAME if line is None else line.frames[index]
            marker = 0x80 if line is not None and index == 0 else 0
            self._sequence = (self._sequence + 1) & 0xFFFF
            self._timestamp = (self._timestamp + FRAME_BYTES) & 0xFFFFFFFF
            _HEADER.pack_into(
                buffer, 0, 0x80, marker | self.payload_type, self._sequence, self._timestamp,
                self._ssrc,
            )  # fmt: skip
            buffer[12:] = frame
            try:
                sendto(buffer, self.target)
            except OSError:
                self.close_reason = "RTP send failed"
            if line is None:
                continue
            if index == line.last_voiced:
                self.latency.caller_stopped("speech", time.monotonic())
                self._notify()
            if index + 1 < len(line.frames):
                self._frame = index + 1
                continue
            self.playout.new_answer()  # what comes next answers this line
            sent = self._line_sent
            if self._queued:
                self._line, self._line_sent = self._queued.popleft()
            else:
                self._line, self._line_sent = None, None
            self._frame = 0
            if sent is not None and not sent.done():
                sent.set_result(None)

    def heard(self, data: bytes, now: float) -> None:
        """One packet from the agent: its audio, or the silence it sends while quiet."""
        if len(data) != PACKET_BYTES or self.ended_at is not None:
            return  # a telephone event, or after the end
        if data.endswith(SILENT_FRAME):
            if self._agent_speaking and self._line is not None:
                self.clears.append(now)  # the agent stopped while the caller speaks
                self.received_events.append(ReceivedEvent("clear", now))
            self._agent_speaking = False
            return
        self._agent_speaking = True
        self.received_events.append(ReceivedEvent("media", now, FRAME_BYTES))
        self.playout.audio(_TIMESTAMP.unpack_from(data, 4)[0], now)
        self.last_media_at = now
        self.latency.agent_audio(now)
        self._notify()

    def far_end_hung_up(self) -> None:
        self.close_reason = "BYE from the agent"
        self._ended()

    def _ended(self) -> None:
        if self.ended_at is None:
            self.ended_at = time.monotonic()
        self._crowd.leave(self)
        ended = CallEndedError("the call ended before the caller finished")
        for sent in [self._line_sent, *(s for _, s in self._queued)]:
            if sent is not None and not sent.done():
                sent.set_exception(ended)
        self._line, self._line_sent = None, None
        self._queued.clear()
        self._notify()

    def _notify(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _wait_change(self, wait_s: float) -> None:
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(wait_s, _wake, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None
