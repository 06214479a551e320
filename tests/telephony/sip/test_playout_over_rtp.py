"""Pause and resume over real RTP: the call loop's ``Playout`` on a ``SipMediaConnection`` and
an ``RtpEndpoint`` sending to a second endpoint on loopback (127.0.0.1 only).

On SIP the server sends the RTP itself, so a pause knows exactly which bytes left: the resume
continues from the first byte the caller did not get, whatever the play-position estimate
says. The playout's clock here never moves (as if the event loop had stalled since the last
mark, or the estimate were off in any other way): only the carrier's own account can make
the resumed audio join without a byte repeated or skipped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import numpy as np

from aybiza.audio.codec import SILENCE_BYTE, pcm16_to_ulaw
from aybiza.pipeline.playout import Playout
from aybiza.telephony.sip.connection import MediaRelay, SipMediaConnection
from aybiza.telephony.sip.jitter import JitterBuffer
from aybiza.telephony.sip.media import RtpEndpoint
from aybiza.telephony.sip.offer_answer import SdpSession
from aybiza.telephony.sip.ports import PortRange, RtpPortAllocator
from aybiza.telephony.sip.sdp import SessionDescription

FRAME = 160
SILENT = bytes([SILENCE_BYTE]) * FRAME
TEST_PORTS = PortRange(64600, 64699)  # a range no other test file uses


def chirp(frames: int) -> bytes:
    """μ-law audio with no two 20 ms frames alike and no silent frame."""
    t = np.arange(frames * FRAME) / 8000
    return pcm16_to_ulaw((9000 * np.sin(2 * np.pi * (300 * t + 300 * t * t))).astype(np.int16))


class Marks:
    """The server side's listener: marks reach the playout, as ``CallSession.on_mark`` does."""

    def __init__(self) -> None:
        self.playout: Playout | None = None

    async def on_audio(self, frame: bytes) -> None:
        return None

    async def on_dtmf(self, digit: str) -> None:
        return None

    def on_mark(self, name: str) -> None:
        if self.playout is not None:
            self.playout.on_mark(name)


class Caller:
    """The far end: keeps every voiced payload as it arrives, before its jitter buffer."""

    def __init__(self) -> None:
        self.voiced: list[bytes] = []

    def arrived(self, payload: bytes | memoryview, _at: float) -> None:
        if bytes(payload) != SILENT:
            self.voiced.append(bytes(payload))

    async def on_audio(self, frame: bytes) -> None:
        return None

    async def on_dtmf(self, digit: str) -> None:
        return None

    def on_mark(self, name: str) -> None:
        return None


async def until(condition: Callable[[], bool], timeout_s: float = 15.0) -> None:
    """Poll ``condition`` (the endpoints' counters have no event to wait on); the limit only
    stops a broken test from hanging, nothing here asserts speed."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not met within {timeout_s} s")
        await asyncio.sleep(0.01)


@asynccontextmanager
async def sip_playout() -> AsyncIterator[tuple[Playout, RtpEndpoint, Caller]]:
    """A playout whose clock never moves, sending over RTP to a caller's endpoint."""
    allocator = RtpPortAllocator(TEST_PORTS)
    server_sockets, caller_sockets = allocator.bind(), allocator.bind()
    offerer = SdpSession("127.0.0.1", caller_sockets.port)
    answerer = SdpSession("127.0.0.1", server_sockets.port)
    answer, server_params = answerer.answer(SessionDescription.parse(offerer.offer().serialize()))
    caller_params = offerer.accept_answer(SessionDescription.parse(answer.serialize()))
    marks, caller = Marks(), Caller()
    relay = MediaRelay()
    relay.target = marks
    server = RtpEndpoint(server_sockets, server_params, relay, allocator=allocator)
    far = RtpEndpoint(
        caller_sockets,
        caller_params,
        caller,
        allocator=allocator,
        jitter=JitterBuffer(min_depth_ms=200, initial_depth_ms=200, max_depth_ms=400),
        audio_observer=caller.arrived,
    )
    hung_up: list[str] = []
    playout = Playout(SipMediaConnection(server, hung_up.append), lambda: 100.0)
    marks.playout = playout
    await server.start()
    await far.start()
    try:
        yield playout, server, caller
    finally:
        await server.close()
        await far.close()
        assert allocator.in_use == 0


async def test_a_resume_over_rtp_continues_from_the_first_byte_not_sent() -> None:
    content = chirp(90)  # 1.8 s in three chunks of 0.6 s
    async with sip_playout() as (playout, server, caller):
        utterance = playout.start_utterance()
        index = playout.add_sentence(utterance, "one two three four five six seven eight nine")
        for start in range(0, len(content), 30 * FRAME):
            await playout.send(utterance, index, content[start : start + 30 * FRAME])
        playout.finish_sentence(utterance, index)
        await until(lambda: len(caller.voiced) >= 40)  # into the second chunk
        assert await playout.pause()
        assert server.queued_ms == 0  # nothing more leaves while paused
        sent = server.sender.packets_sent
        await until(lambda: server.sender.packets_sent >= sent + 5)
        paused_at = len(caller.voiced)
        # What the caller got is what the context will say it heard, to the byte.
        assert utterance.sentences[index].heard_bytes == paused_at * FRAME
        await playout.resume()
        await playout.wait_drained()
        await until(lambda: len(caller.voiced) >= len(content) // FRAME)
    assert b"".join(caller.voiced) == content
    assert utterance.heard_text() == "one two three four five six seven eight nine"


async def test_a_clear_reports_each_marks_unsent_bytes() -> None:
    content = chirp(60)
    async with sip_playout() as (_, server, caller):
        server.send_audio(content[: 30 * FRAME])
        server.mark("first")
        server.send_audio(content[30 * FRAME :])
        server.mark("second")
        await until(lambda: len(caller.voiced) >= 10)
        unsent = server.clear()
        sent = server.sender.packets_sent
        await until(lambda: server.sender.packets_sent >= sent + 5)
    voiced = len(caller.voiced)
    assert 10 <= voiced < 30
    assert unsent == {"first": (30 - voiced) * FRAME, "second": 30 * FRAME}
