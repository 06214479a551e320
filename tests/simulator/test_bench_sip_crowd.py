"""The SIP load generator's ear (bench/sip_playout.py): which of the agent's RTP packets a phone
with a 60 ms jitter buffer could not play in time, and its lines cut into frames. Arrival times
are passed in: nothing here measures time."""

from __future__ import annotations

import pytest
from bench.sip_playout import AUDIBLE_GAP_S, JITTER_BUFFER_S, PhonePlayout, prepare_sip_line

from aybiza.audio.codec import FRAME_BYTES, SILENCE_BYTE

FRAME_S = 0.020


def steady(playout: PhonePlayout, first_ts: int, frames: int, start: float) -> float:
    """``frames`` packets on time from ``start``; returns the next packet's due time."""
    for n in range(frames):
        playout.audio((first_ts + n * FRAME_BYTES) % 2**32, start + n * FRAME_S)
    return start + frames * FRAME_S


def test_packets_on_time_and_jitter_within_the_buffer_are_no_gap() -> None:
    playout = PhonePlayout()
    # Timestamps wrap around 2**32 in the middle of the answer.
    due = steady(playout, 2**32 - 5 * FRAME_BYTES, 10, 100.0)
    playout.audio((5 * FRAME_BYTES) % 2**32, due + JITTER_BUFFER_S)  # late, within the buffer
    assert playout.gaps_s == []


def test_a_packet_later_than_the_buffer_and_the_tolerance_is_a_gap_counted_once() -> None:
    playout = PhonePlayout()
    due = steady(playout, 1000, 10, 100.0)
    late = JITTER_BUFFER_S + AUDIBLE_GAP_S + 0.030
    playout.audio(1000 + 10 * FRAME_BYTES, due + late)
    # The packets behind it arrive with it: the buffer restarted, they are no new gap.
    playout.audio(1000 + 11 * FRAME_BYTES, due + late + 0.001)
    assert playout.gaps_s == [pytest.approx(late - JITTER_BUFFER_S)]


def test_silence_inside_an_answer_is_a_gap_but_not_before_the_next_answer() -> None:
    playout = PhonePlayout()
    due = steady(playout, 0, 5, 100.0)
    # The server had nothing to send for 100 ms (five frames of silence went instead).
    playout.audio(10 * FRAME_BYTES, due + 0.100)
    assert playout.gaps_s == [pytest.approx(0.100)]
    playout.new_answer()  # the caller spoke: the next answer's first packet starts afresh
    playout.audio(500 * FRAME_BYTES, due + 5.0)
    assert len(playout.gaps_s) == 1


def test_a_line_is_cut_into_raw_frames_padded_with_silence() -> None:
    voiced = bytes([0x10]) * (2 * FRAME_BYTES + 40)
    line = prepare_sip_line(voiced)
    assert [len(frame) for frame in line.frames] == [FRAME_BYTES] * 3
    assert line.frames[2] == bytes([0x10]) * 40 + bytes([SILENCE_BYTE]) * (FRAME_BYTES - 40)
    assert line.last_voiced == 2
    with pytest.raises(ValueError, match="a line needs audio"):
        prepare_sip_line(b"")
