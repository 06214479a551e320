"""The RTP endpoint between two real endpoints over loopback UDP (127.0.0.1 only), and the
port allocator and send queue it is built on."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import numpy as np
import pytest

from aybiza.agents.speech import VoiceOptions
from aybiza.audio.alaw import alaw_to_ulaw, ulaw_to_alaw
from aybiza.audio.codec import SILENCE_BYTE, pcm16_to_ulaw
from aybiza.providers.tts.espeak import EspeakTts
from aybiza.telephony.sip.dtmf import DtmfError
from aybiza.telephony.sip.jitter import JitterBuffer
from aybiza.telephony.sip.media import RtpEndpoint
from aybiza.telephony.sip.offer_answer import Codec, MediaParams, SdpSession
from aybiza.telephony.sip.ports import (
    NoRtpPort,
    PortRange,
    PortRangeError,
    RtpPortAllocator,
)
from aybiza.telephony.sip.rtp import RtpPacket
from aybiza.telephony.sip.sdp import SessionDescription
from aybiza.telephony.sip.sendqueue import SendQueue

FRAME = 160
SILENT = bytes([SILENCE_BYTE]) * FRAME
TEST_PORTS = PortRange(61000, 61999)  # above Linux's ephemeral ports: no kernel-chosen port


def chirp(frames: int) -> bytes:
    """μ-law audio with no two 20 ms frames alike and no silent frame."""
    t = np.arange(frames * FRAME) / 8000
    return pcm16_to_ulaw((9000 * np.sin(2 * np.pi * (300 * t + 300 * t * t))).astype(np.int16))


def frames_of(audio: bytes) -> list[bytes]:
    return [audio[i : i + FRAME] for i in range(0, len(audio), FRAME)]


class Recorder:
    """A listener that keeps what reaches it; marks with the queue left when they fired."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.digits: list[str] = []
        self.marks: list[tuple[str, int]] = []
        self.endpoint: RtpEndpoint | None = None

    async def on_audio(self, frame: bytes) -> None:
        self.frames.append(frame)

    async def on_dtmf(self, digit: str) -> None:
        self.digits.append(digit)

    def on_mark(self, name: str) -> None:
        self.marks.append((name, self.endpoint.queued_ms if self.endpoint else -1))

    def frames_from(self, first: bytes) -> list[bytes]:
        """What arrived from frame ``first`` on."""
        return self.frames[self.frames.index(first) :]


async def until(
    condition: Callable[[], bool],
    timeout_s: float = 15.0,
    state: Callable[[], object] = lambda: "",
) -> None:
    """Wait for ``condition()``: polled, as the endpoints' counters have no event to wait on.
    The limit only stops a broken test from hanging; nothing here asserts speed. ``state``
    says what the test saw, should it fail."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not met within {timeout_s} s: {state()}")
        await asyncio.sleep(0.01)


def negotiate(a_port: int, b_port: int, codecs: tuple[Codec, ...]) -> tuple[MediaParams, ...]:
    """A offers, B answers, over serialized SDP as on the wire."""
    a_sdp, b_sdp = SdpSession("127.0.0.1", a_port, codecs=codecs), SdpSession("127.0.0.1", b_port)
    offer = SessionDescription.parse(a_sdp.offer().serialize())
    answer, b_params = b_sdp.answer(offer)
    return a_sdp.accept_answer(SessionDescription.parse(answer.serialize())), b_params


class Relay:
    """A loopback UDP hop between A and B: A sits behind it as behind a NAT, so the address A's
    SDP gives (``private``, a socket that drops everything) does not reach A. From A to B it
    drops the packets whose payload is in ``drop`` and sends those in ``late_by_one`` after the
    next one."""

    def __init__(self, b: tuple[str, int], drop: set[bytes], late_by_one: set[bytes]) -> None:
        self.b, self.drop, self.late_by_one = b, drop, late_by_one
        self.private = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.private.bind(("127.0.0.1", 0))
        self.a: tuple[str, int] | None = None
        self.held: bytes | None = None
        self.to_b: asyncio.DatagramTransport | None = None
        self.to_a: asyncio.DatagramTransport | None = None

    async def open(self) -> int:
        loop = asyncio.get_running_loop()
        relay = self

        class FromA(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
                relay.a = (str(addr[0]), int(addr[1]))
                relay.forward(data)

        class FromB(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
                if relay.to_a is not None and relay.a is not None:
                    relay.to_a.sendto(data, relay.a)

        self.to_a, _ = await loop.create_datagram_endpoint(FromA, local_addr=("127.0.0.1", 0))
        self.to_b, _ = await loop.create_datagram_endpoint(FromB, local_addr=("127.0.0.1", 0))
        return int(self.to_a.get_extra_info("sockname")[1])

    def forward(self, data: bytes) -> None:
        assert self.to_b is not None
        payload = bytes(RtpPacket.parse(data).payload)
        if payload in self.drop:
            return
        if payload in self.late_by_one:
            self.held = data
            return
        self.to_b.sendto(data, self.b)
        if self.held is not None:
            self.to_b.sendto(self.held, self.b)
            self.held = None

    def close(self) -> None:
        self.private.close()
        for transport in (self.to_a, self.to_b):
            if transport is not None:
                transport.close()


@asynccontextmanager
async def call(
    *,
    codecs: tuple[Codec, ...] = ("PCMU", "PCMA"),
    relay: Relay | None = None,
    report_interval_s: float = 5.0,
) -> AsyncIterator[tuple[RtpEndpoint, Recorder, RtpEndpoint, Recorder]]:
    """Two endpoints in one call; test buffers run deep so a loaded machine cannot make a
    packet late (the buffer's own behaviour is tested in test_jitter.py)."""
    allocator = RtpPortAllocator(TEST_PORTS)
    a_sockets, b_sockets = allocator.bind(), allocator.bind()
    a_params, b_params = negotiate(a_sockets.port, b_sockets.port, codecs)
    if relay is not None:
        relay.b = ("127.0.0.1", b_sockets.port)
        a_params = dataclasses.replace(a_params, remote_port=await relay.open())
        b_params = dataclasses.replace(b_params, remote_port=relay.private.getsockname()[1])
    endpoints, recorders = [], []
    for sockets, params in ((a_sockets, a_params), (b_sockets, b_params)):
        recorder = Recorder()
        jitter = JitterBuffer(min_depth_ms=200, initial_depth_ms=200, max_depth_ms=400)
        endpoint = RtpEndpoint(
            sockets,
            params,
            recorder,
            allocator=allocator,
            jitter=jitter,
            max_late_slots=50,
            report_interval_s=report_interval_s,
        )
        recorder.endpoint = endpoint
        await endpoint.start()
        endpoints.append(endpoint)
        recorders.append(recorder)
    try:
        yield endpoints[0], recorders[0], endpoints[1], recorders[1]
    finally:
        for endpoint in endpoints:
            await endpoint.close()
        if relay is not None:
            relay.close()
        assert allocator.in_use == 0


async def test_item2_speech_sent_by_one_endpoint_arrives_intact_and_in_order_at_the_other() -> None:
    tts = EspeakTts()
    try:
        speech = await tts.synthesize(
            "Thank you for calling. How can I help you today?", VoiceOptions()
        )
    finally:
        await tts.aclose()
    async with call() as (a, _, b, heard_by_b):
        a.send_audio(speech)
        await until(lambda: a.queued_ms == 0)
        await until(lambda: speech in b"".join(heard_by_b.frames))
        assert b.jitter.stats.late == b.jitter.stats.concealed_frames == 0
        assert b.reports.reception is not None and b.reports.reception.lost == 0


async def test_loss_and_reordering_on_the_path_are_concealed_and_put_right() -> None:
    content = frames_of(chirp(60))
    lost, reordered = {content[10], content[30], content[31]}, {content[5], content[20]}
    relay = Relay(("127.0.0.1", 0), drop=lost, late_by_one=reordered)
    async with call(relay=relay) as (a, _, b, heard_by_b):
        await until(lambda: b.latch.latched is not None)  # B learned the relay's address
        assert b.latch.latched != ("127.0.0.1", a.port)
        a.send_audio(b"".join(content))
        await until(lambda: content[0] in heard_by_b.frames)
        await until(lambda: len(heard_by_b.frames_from(content[0])) >= len(content))
        out = heard_by_b.frames_from(content[0])
        for i, frame in enumerate(content):
            assert (out[i] == frame) is (frame not in lost), i
        assert b.jitter.stats.concealed_frames == len(lost)
        assert b.jitter.stats.late == 0


async def test_audio_that_arrives_while_the_event_loop_stalls_is_heard_late_not_lost() -> None:
    # A far end paced by its own clock (a thread) goes on sending while our loop is blocked for
    # 1.5 s, as when pocketsphinx loads a decoder holding the GIL: the packets pile up in the
    # socket, and once the loop runs again they must reach the listener, in order.
    content = frames_of(chirp(150))
    allocator = RtpPortAllocator(TEST_PORTS)
    sockets = allocator.bind()
    far_end = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    far_end.bind(("127.0.0.1", 0))
    params = MediaParams("PCMU", 0, None, "127.0.0.1", far_end.getsockname()[1], 0, "sendrecv")
    recorder = Recorder()
    jitter = JitterBuffer(min_depth_ms=200, initial_depth_ms=200, max_depth_ms=400)
    endpoint = RtpEndpoint(sockets, params, recorder, allocator=allocator, jitter=jitter)

    def send() -> None:
        start = time.monotonic()
        for k, frame in enumerate(content):
            time.sleep(max(0.0, start + k * 0.02 - time.monotonic()))
            far_end.sendto(RtpPacket(0, k, k * FRAME, 0xFA2E, frame).serialize(), ours)

    ours = ("127.0.0.1", sockets.port)
    await endpoint.start()
    sender = threading.Thread(target=send)
    sender.start()
    try:
        await until(lambda: content[0] in recorder.frames)
        time.sleep(1.5)  # noqa: ASYNC251 (the point: the event loop stalls)
        await until(lambda: len(recorder.frames_from(content[0])) >= len(content))
    finally:
        sender.join()
        far_end.close()
        await endpoint.close()
    assert recorder.frames_from(content[0])[: len(content)] == content
    assert jitter.stats.resyncs == 0 and endpoint.sender.skipped_slots > 0


async def test_a_stranger_sending_to_the_port_is_ignored() -> None:
    content = frames_of(chirp(40))
    async with call() as (a, _, b, heard_by_b):
        await until(lambda: b.latch.latched == ("127.0.0.1", a.port))
        stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            for n in range(20):
                forged = RtpPacket(0, n, n * FRAME, 0x5EED, b"\x00" * FRAME)
                stranger.sendto(forged.serialize(), ("127.0.0.1", b.port))
            a.send_audio(b"".join(content))
            await until(lambda: content[0] in heard_by_b.frames)
            await until(lambda: len(heard_by_b.frames_from(content[0])) >= 40)
        finally:
            stranger.close()
        assert heard_by_b.frames_from(content[0])[:40] == content
        assert b.latch.dropped == 20


async def test_pcma_travels_as_alaw_and_arrives_as_ulaw() -> None:
    content = chirp(25)
    async with call(codecs=("PCMA",)) as (a, _, b, heard_by_b):
        assert (a.params.codec, b.params.codec) == ("PCMA", "PCMA")
        a.send_audio(content)
        expected = alaw_to_ulaw(ulaw_to_alaw(content))
        await until(lambda: expected in b"".join(heard_by_b.frames))


async def test_digits_go_both_ways_as_telephone_events() -> None:
    async with call() as (a, heard_by_a, b, heard_by_b):
        a.send_dtmf("12#")
        b.send_dtmf("*9")
        await until(lambda: len(heard_by_b.digits) == 3 and len(heard_by_a.digits) == 2)
        assert heard_by_b.digits == ["1", "2", "#"]
        assert heard_by_a.digits == ["*", "9"]
        with pytest.raises(DtmfError):
            a.send_dtmf("X")


async def test_marks_fire_once_the_audio_queued_before_them_has_been_sent() -> None:
    async with call() as (a, heard_by_a, _, _):
        a.mark("nothing-before")
        a.send_audio(chirp(10))  # 200 ms
        a.mark("first")
        a.send_audio(chirp(5))  # 100 ms
        a.mark("second")
        await until(lambda: len(heard_by_a.marks) == 3)
        # Each fires in the slot that sends the last audio before it (the first, in the slot
        # that sends the first frame behind it).
        assert heard_by_a.marks == [("nothing-before", 280), ("first", 100), ("second", 0)]


async def test_clear_drops_queued_audio_at_once_and_releases_its_marks() -> None:
    async with call() as (a, heard_by_a, _, heard_by_b):
        content = chirp(250)  # 5 s
        a.send_audio(content)
        a.mark("end-of-reply")
        await until(lambda: any(f != SILENT for f in heard_by_b.frames))
        a.clear()
        assert a.queued_ms == 0
        await until(lambda: [name for name, _ in heard_by_a.marks] == ["end-of-reply"])
        heard = len(heard_by_b.frames)
        await until(lambda: len(heard_by_b.frames) >= heard + 40)  # the buffer's depth, and more
        assert heard_by_b.frames[-10:] == [SILENT] * 10
        assert sum(f != SILENT for f in heard_by_b.frames) < 100


async def test_hold_pauses_sending_and_resume_continues_where_it_stopped() -> None:
    content = chirp(60)
    async with call() as (a, heard_by_a, b, _):
        a_sdp, b_sdp = SdpSession("127.0.0.1", a.port), SdpSession("127.0.0.1", b.port)
        a.send_audio(content)
        a.mark("done")
        await until(lambda: a.queued_ms < 900)
        answer, a_held = a_sdp.answer(SessionDescription.parse(b_sdp.offer(hold=True).serialize()))
        a.update(a_held)
        b.update(b_sdp.accept_answer(answer))
        assert not a.params.sends
        sent, queued = a.sender.packets_sent, a.queued_ms
        await asyncio.sleep(0.2)
        assert (a.sender.packets_sent, a.queued_ms, heard_by_a.marks) == (sent, queued, [])
        answer, a_resumed = a_sdp.answer(SessionDescription.parse(b_sdp.offer().serialize()))
        a.update(a_resumed)
        b.update(b_sdp.accept_answer(answer))
        await until(lambda: heard_by_a.marks == [("done", 0)])
        assert a.sender.packets_sent > sent


async def test_rtcp_reports_measure_the_path_and_bye_ends_it() -> None:
    async with call(report_interval_s=0.2) as (a, _, b, _):
        a.send_audio(chirp(50))
        await until(
            lambda: (
                a.reports.far_end.round_trip_s is not None
                and b.reports.far_end.round_trip_s is not None
                and b.reports.reception is not None
                and b.reports.reception.received > 10
            ),
            state=lambda: (a.reports.far_end, b.reports.far_end, a.counts, b.counts),
        )
        assert 0 <= (a.reports.far_end.round_trip_s or 0) < 5
        reception = b.reports.reception
        assert reception is not None
        assert (reception.lost, reception.received > 10) == (0, True), vars(reception)
        await a.close("call ended")
        await until(lambda: b.reports.far_end.bye, state=lambda: (b.reports.far_end, b.counts))


async def test_a_stall_of_the_receivers_event_loop_delays_the_far_ends_audio_but_loses_none() -> (
    None
):
    """The server's loop is blocked for 1.2 s (a decoder loading, say) while the caller talks:
    the packets pile up in the socket and arrive at once; every frame still reaches the
    listener, in order."""
    content = frames_of(chirp(150))
    allocator = RtpPortAllocator(TEST_PORTS)
    sockets = allocator.bind()
    caller = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    caller.bind(("127.0.0.1", 0))
    caller_port = caller.getsockname()[1]
    params = MediaParams("PCMU", 0, 101, "127.0.0.1", caller_port, caller_port + 1, "sendrecv")
    heard = Recorder()
    endpoint = RtpEndpoint(sockets, params, heard, allocator=allocator)  # production defaults

    def talk() -> None:
        """The caller's phone, on its own clock: one packet every 20 ms."""
        start = time.monotonic()
        for n, frame in enumerate(content):
            time.sleep(max(0.0, start + n * 0.020 - time.monotonic()))
            packet = RtpPacket(0, n, n * FRAME, 0xCA11, frame, marker=n == 0)
            caller.sendto(packet.serialize(), ("127.0.0.1", sockets.port))

    await endpoint.start()
    talking = threading.Thread(target=talk)
    try:
        talking.start()
        await until(lambda: content[10] in heard.frames)
        time.sleep(1.2)  # noqa: ASYNC251 - the stall under test
        await asyncio.to_thread(talking.join)
        await until(lambda: content[-1] in heard.frames)
    finally:
        await endpoint.close()
        caller.close()
    assert heard.frames_from(content[0])[: len(content)] == content
    assert endpoint.jitter.stats.resyncs == 0
    assert endpoint.sender.skipped_slots > 0  # the stall did happen


def test_the_port_range_reads_aybiza_rtp_ports() -> None:
    assert PortRange.from_environment({}) == PortRange(20000, 20999)
    assert PortRange.from_environment({"AYBIZA_RTP_PORTS": "30000-30099"}) == PortRange(
        30000, 30099
    )
    assert PortRange.parse("20000-20999").rtp_ports == range(20000, 20999, 2)
    assert PortRange.parse("20001-20004").rtp_ports == range(20002, 20004, 2)
    for bad in ["20000", "a-b", "80-90", "30000-20000", "20001-20002", "20000-70000"]:
        with pytest.raises(PortRangeError) as refused:
            PortRange.parse(bad)
        assert refused.value.field == "AYBIZA_RTP_PORTS"
        assert "AYBIZA_RTP_PORTS" in str(refused.value)


def test_allocator_hands_out_even_pairs_moves_on_and_skips_ports_in_use() -> None:
    squatter = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        squatter.bind(("127.0.0.1", 62003))  # the RTCP half of the second pair
        allocator = RtpPortAllocator(PortRange(62000, 62005))
        first = allocator.bind()
        second = allocator.bind()
        assert (first.port, second.port) == (62000, 62004)
        assert first.rtcp.getsockname()[1] == 62001
        with pytest.raises(NoRtpPort, match="62000-62005"):
            allocator.bind()
        first.close()
        allocator.release(first.port)
        third = allocator.bind()
        assert third.port == 62000
        for pair in (second, third):
            pair.close()
    finally:
        squatter.close()


def test_send_queue_frames_span_chunks_and_marks_fall_between_them() -> None:
    queue = SendQueue()
    audio = chirp(3)
    queue.add_audio(audio[:100])
    queue.add_mark("a")
    queue.add_audio(audio[100:400])
    queue.add_mark("b")
    first, marks = queue.take_frame()
    assert (bytes(first or b""), marks) == (audio[:160], ("a",))
    second, marks = queue.take_frame()
    assert isinstance(second, memoryview)  # inside one chunk: a view, not a copy
    assert (bytes(second), marks) == (audio[160:320], ())
    third, marks = queue.take_frame()
    assert (bytes(third or b""), marks) == (audio[320:400] + bytes([SILENCE_BYTE]) * 80, ("b",))
    assert queue.take_frame() == (None, ())
    queue.add_audio(audio)
    queue.add_mark("c")
    assert queue.clear() == [("c", len(audio))]
    assert queue.queued_ms == 0 and queue.empty


def test_send_queue_clear_says_what_of_each_marked_piece_never_left() -> None:
    queue = SendQueue()
    audio = chirp(4)
    queue.add_audio(audio[:400])
    queue.add_mark("a")
    queue.add_mark("empty")
    queue.add_audio(audio[400:500])
    queue.add_audio(audio[500:])
    queue.add_mark("b")
    queue.add_audio(audio[:50])  # no mark after it: dropped unreported
    queue.take_frame()
    queue.take_frame()  # 320 of the first piece's 400 bytes left
    assert queue.clear() == [("a", 80), ("empty", 0), ("b", len(audio) - 400)]
    assert queue.empty
