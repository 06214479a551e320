"""The jitter buffer: reordering, loss, duplicates, wraparound, lateness and its target depth."""

from __future__ import annotations

import numpy as np
from tests.telephony.sip.sipp_pcap import udp_payloads

from aybiza.audio.alaw import alaw_to_ulaw
from aybiza.audio.codec import SILENCE_BYTE, pcm16_to_ulaw, ulaw_to_array
from aybiza.telephony.sip.jitter import JitterBuffer
from aybiza.telephony.sip.rtp import RtpPacket

FRAME = 160
Arrivals = dict[int, list[tuple[int, int, bytes]]]
SILENT_FRAME = bytes([SILENCE_BYTE]) * FRAME


def tone(frames: int) -> list[bytes]:
    """A μ-law chirp (300 Hz rising) cut into 20 ms frames, no two frames alike."""
    t = np.arange(frames * FRAME) / 8000
    audio = pcm16_to_ulaw((9000 * np.sin(2 * np.pi * (300 * t + 200 * t * t))).astype(np.int16))
    return [audio[i * FRAME : (i + 1) * FRAME] for i in range(frames)]


def rms(frame: bytes) -> float:
    return float(np.sqrt(np.mean(ulaw_to_array(frame).astype(np.float64) ** 2)))


def run(
    buffer: JitterBuffer,
    arrivals: Arrivals,
    ticks: int,
) -> list[bytes]:
    """Deliver ``arrivals[tick]`` (sequence, timestamp, payload) before each tick's pops: one,
    and as many more as ``backlog_frames`` says, as the RTP endpoint does."""
    out = []
    for tick in range(ticks):
        for seq, ts, payload in arrivals.get(tick, []):
            buffer.put(seq, ts, payload)
        for _ in range(1 + buffer.backlog_frames):  # the tick's frame, and any due early
            frame = buffer.pop()
            assert len(frame) == FRAME
            out.append(frame)
    return out


def steady(frames: list[bytes], seq0: int = 1000, ts0: int = 80_000) -> Arrivals:
    """Packet k arrives at tick k."""
    return {k: [((seq0 + k) % 65536, (ts0 + k * FRAME) % 2**32, f)] for k, f in enumerate(frames)}


def test_in_order_packets_play_in_order_after_the_target_depth() -> None:
    frames = tone(20)
    out = run(JitterBuffer(), steady(frames), 22)
    # 60 ms target: two frames of silence, then the stream exactly as sent.
    assert out[:2] == [SILENT_FRAME, SILENT_FRAME]
    assert out[2:22] == frames


def test_every_tick_yields_one_frame_even_before_any_packet() -> None:
    buffer = JitterBuffer()
    assert [buffer.pop() for _ in range(3)] == [SILENT_FRAME] * 3
    assert buffer.stats.concealed_frames == 0


def test_reordered_packets_are_played_in_sequence() -> None:
    frames = tone(12)
    arrivals = steady(frames)
    # Swap neighbours: 1 arrives with 2, 3 with 4 ...
    for k in range(1, 11, 2):
        arrivals[k], arrivals[k + 1] = arrivals[k + 1], arrivals[k]
    buffer = JitterBuffer()
    out = run(buffer, arrivals, 14)
    assert out[2:14] == frames
    assert buffer.stats.concealed_frames == 0
    assert buffer.stats.late == 0


def test_sequence_and_timestamp_wraparound_is_seamless() -> None:
    frames = tone(10)
    buffer = JitterBuffer()
    out = run(buffer, steady(frames, seq0=65531, ts0=2**32 - 4 * FRAME), 12)
    assert out[2:12] == frames
    assert buffer.stats.duplicates == buffer.stats.late == buffer.stats.resyncs == 0


def test_a_lost_packet_is_concealed_by_a_quieter_repeat() -> None:
    frames = tone(10)
    arrivals = steady(frames)
    del arrivals[5]
    buffer = JitterBuffer()
    out = run(buffer, arrivals, 12)
    assert out[2:7] == frames[:5]
    assert out[7] != frames[5]
    assert 0 < rms(out[7]) < rms(frames[4])
    assert out[8:12] == frames[6:10]
    assert buffer.stats.concealed_frames == 1


def test_burst_loss_fades_out_to_silence_then_audio_resumes() -> None:
    frames = tone(16)
    arrivals = steady(frames)
    for k in range(4, 10):
        del arrivals[k]
    buffer = JitterBuffer()
    out = run(buffer, arrivals, 18)
    concealed = out[6:12]
    levels = [rms(frame) for frame in concealed[:3]]
    assert levels == sorted(levels, reverse=True)
    assert levels[-1] > 0
    assert concealed[3:] == [SILENT_FRAME] * 3
    assert out[12:18] == frames[10:16]
    assert buffer.stats.concealed_frames == 6


def test_duplicates_are_counted_and_played_once() -> None:
    frames = tone(8)
    arrivals = steady(frames)
    arrivals[3] = arrivals[3] + arrivals[2]  # packet 2 again, one tick later
    arrivals[6] = arrivals[6] * 2
    buffer = JitterBuffer()
    out = run(buffer, arrivals, 10)
    assert out[2:10] == frames
    assert buffer.stats.duplicates == 2


def test_a_late_packet_is_counted_not_played_and_deepens_the_buffer() -> None:
    frames = tone(20)
    arrivals = steady(frames)
    late = arrivals.pop(4)
    arrivals[9] = late + arrivals[9]  # 100 ms late: its playout (tick 6) has passed
    buffer = JitterBuffer()
    out = run(buffer, arrivals, 23)
    assert buffer.stats.late == 1
    assert buffer.target_ms == 80
    assert frames[4] not in out
    # One frame was concealed at tick 6 and one stretched in at tick 9: the rest plays in order,
    # two ticks later than before.
    assert buffer.stats.stretched_frames == 1
    assert out[2:6] == frames[:4]
    assert out[7:9] == frames[5:7]
    assert out[10:23] == frames[7:20]


def test_the_depth_relaxes_back_after_a_quiet_spell() -> None:
    frames = tone(80)
    arrivals = steady(frames)
    late = arrivals.pop(4)
    arrivals[9] = late + arrivals[9]
    buffer = JitterBuffer(min_depth_ms=60, relax_after_frames=30, shrink_after_frames=5)
    out = run(buffer, arrivals, 82)
    assert buffer.stats.late == 1
    assert buffer.target_ms == 60
    assert buffer.stats.early_frames == 1
    # Back at 60 ms by handing one frame on early, not by dropping one: every frame after the
    # stretch plays, and the last plays two ticks after it arrived, as at the start.
    assert b"".join(frames[12:]) in b"".join(out)
    assert len(out) == 82 + 1
    assert out[-1] == frames[79]


def test_the_target_never_leaves_its_bounds() -> None:
    buffer = JitterBuffer(min_depth_ms=40, max_depth_ms=100, initial_depth_ms=60)
    frames = tone(40)
    arrivals = steady(frames)
    for k in range(5, 35, 3):  # every third packet very late
        arrivals.setdefault(k + 8, []).extend(arrivals.pop(k))
    run(buffer, arrivals, 50)
    assert buffer.stats.late >= 5
    assert buffer.target_ms == 100


def test_thirty_millisecond_packets_are_reframed_into_twenty() -> None:
    audio = b"".join(tone(12))  # 240 ms
    packets = [audio[i : i + 240] for i in range(0, len(audio), 240)]
    arrivals: Arrivals = {}
    for k, payload in enumerate(packets):  # one packet every 30 ms: ticks 0, 1, 3, 4, 6 ...
        arrivals.setdefault(k * 3 // 2, []).append((k, 7000 + k * 240, payload))
    buffer = JitterBuffer()
    out = run(buffer, arrivals, 13)  # the stream's last 10 ms would play at tick 14
    assert audio[:-80] in b"".join(out)
    assert buffer.stats.concealed_frames == 0


def test_a_timestamp_jump_restarts_playout() -> None:
    frames = tone(10)
    arrivals = steady(frames[:5])
    arrivals.update(
        {5 + k: [(1005 + k, 9_000_000 + k * FRAME, f)] for k, f in enumerate(frames[5:])}
    )
    buffer = JitterBuffer()
    out = run(buffer, arrivals, 14)
    assert buffer.stats.resyncs == 1
    assert b"".join(frames[5:]) in b"".join(out)


def test_packets_that_pile_up_while_the_ticks_stall_are_played_late_not_dropped() -> None:
    # Our event loop stalls (a decoder loading) for 1.6 s while the far end goes on sending:
    # 80 frames arrive with no tick between them. They follow on without a gap, so they are
    # not a timestamp jump; playout is behind, says so, and catches up by popping more.
    frames = tone(90)
    buffer = JitterBuffer()
    out = []
    for k in range(10):
        buffer.put(1000 + k, k * FRAME, frames[k])
        out.append(buffer.pop())
    for k in range(10, 90):
        buffer.put(1000 + k, k * FRAME, frames[k])
    assert buffer.backlog_frames > 50
    while buffer.backlog_frames:
        out.append(buffer.pop())
    out += [buffer.pop() for _ in range(10)]
    assert buffer.stats.resyncs == 0
    played = b"".join(out)
    assert b"".join(frames) in played


def test_a_burst_of_contiguous_audio_is_kept_and_its_backlog_counted() -> None:
    """The receiver's loop stalled for 1.2 s: the stream's packets arrive all at once."""
    frames = tone(70)
    buffer = JitterBuffer()
    out = []
    for k in range(3):
        buffer.put(k, k * FRAME, frames[k])
        out.append(buffer.pop())
    for k in range(3, 63):
        buffer.put(k, k * FRAME, frames[k])
    assert buffer.stats.resyncs == 0
    # 62 frames lie ahead of the playout point (60 ms of them from before the stall); the
    # 120 ms maximum depth holds 6.
    assert buffer.backlog_frames == 56
    out += [buffer.pop() for _ in range(62)]
    # Every frame plays (popped faster than real time by the endpoint), none is skipped.
    assert b"".join(frames[:63]) in b"".join(out)
    assert buffer.stats.early_frames == buffer.stats.concealed_frames == 0
    assert buffer.backlog_frames == 0


def test_a_talkspurt_after_silence_starts_at_the_target_depth() -> None:
    frames = tone(6)
    buffer = JitterBuffer()
    for k in range(3):
        buffer.put(k, k * FRAME, frames[k])
        buffer.pop()
    for _ in range(30):  # the far end stops sending (silence suppression)
        buffer.pop()
    # It resumes with the marker bit and a timestamp that is not where playout expects it.
    buffer.put(3, 100 * FRAME, frames[3], marker=True)
    out = [buffer.pop() for _ in range(3)]
    assert out[2] == frames[3]
    assert buffer.stats.late == 0


def test_sipps_recorded_pcma_in_30_ms_packets_plays_out_whole_as_ulaw() -> None:
    """sipp's g711a.pcap: 236 packets of 30 ms PCMA from another sender, replayed at the times
    they were captured against our 20 ms ticks."""
    captured = udp_payloads("g711a.pcap")
    packets = [(c.at - captured[0].at, RtpPacket.parse(c.payload)) for c in captured]
    assert {p.payload_type for _, p in packets} == {8}
    expected = b"".join(alaw_to_ulaw(bytes(p.payload)) for _, p in packets)
    buffer = JitterBuffer()
    out = bytearray()
    pending = list(packets)
    for tick in range(len(expected) // FRAME + 4):
        while pending and pending[0][0] <= tick * 0.020:
            _, packet = pending.pop(0)
            ulaw = alaw_to_ulaw(bytes(packet.payload))
            buffer.put(packet.sequence, packet.timestamp, ulaw, marker=packet.marker)
        out += buffer.pop()
    assert expected[: -FRAME * 2] in out
    assert buffer.stats.late == buffer.stats.duplicates == 0
