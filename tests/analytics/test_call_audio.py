"""A recorded call's two sides on one timeline: caller left, agent right, the agent's audio
placed where the carrier plays it and cut where the caller interrupted."""

from __future__ import annotations

import io
import wave

import numpy as np

from aybiza.analytics.call_audio import CallAudio
from aybiza.audio.codec import FRAME_BYTES, pcm16_to_ulaw, silence


def tone(ms: int, level: int = 8000) -> bytes:
    samples = np.arange(8 * ms)
    return pcm16_to_ulaw((level * np.sin(2 * np.pi * 440 * samples / 8000)).astype(np.int16))


def channels(wav_bytes: bytes) -> tuple[np.ndarray, np.ndarray, wave._wave_params]:
    with wave.open(io.BytesIO(wav_bytes)) as reader:
        params = reader.getparams()
        data = np.frombuffer(reader.readframes(params.nframes), "<i2").reshape(-1, 2)
    return data[:, 0], data[:, 1], params


def test_agent_audio_plays_after_what_is_queued_and_the_clock_is_the_callers() -> None:
    audio = CallAudio()
    for _ in range(5):  # 100 ms of the caller, silent
        audio.caller(silence(20))
    audio.agent(tone(200))  # queued at 100 ms
    audio.agent(tone(100))  # after the first piece: 300 ms .. 400 ms
    for _ in range(25):
        audio.caller(tone(20))
    left, right, params = channels(audio.wav())
    assert (params.nchannels, params.framerate, params.sampwidth) == (2, 8000, 2)
    assert len(left) == 600 * 8  # the caller's 600 ms
    assert np.all(np.abs(right[: 100 * 8]) < 100)
    assert np.abs(right[100 * 8 : 400 * 8]).max() > 5000
    assert np.all(np.abs(right[400 * 8 :]) < 100)
    assert np.abs(left[100 * 8 :]).max() > 5000 and np.all(np.abs(left[: 100 * 8]) < 100)


def test_a_clear_cuts_the_agent_where_the_caller_interrupted() -> None:
    audio = CallAudio()
    audio.caller(silence(20))
    audio.agent(tone(2000))  # two seconds queued at 20 ms
    for _ in range(25):  # half a second later the caller barges in
        audio.caller(tone(20))
    audio.cleared()
    for _ in range(25):
        audio.caller(silence(20))
    _, right, _ = channels(audio.wav())
    cut = 26 * FRAME_BYTES
    assert len(right) == 51 * FRAME_BYTES  # not the 2 s that were queued
    assert np.abs(right[FRAME_BYTES:cut]).max() > 5000
    assert np.all(np.abs(right[cut:]) < 100)
    assert audio.duration_s == 1.02


def test_agent_audio_after_a_pause_starts_now_not_after_the_last_piece() -> None:
    audio = CallAudio()
    audio.agent(tone(100))
    for _ in range(50):  # one second: the first piece played long ago
        audio.caller(silence(20))
    audio.agent(tone(100))
    _, right, _ = channels(audio.wav())
    assert len(right) == 1100 * 8
    assert np.all(np.abs(right[100 * 8 : 1000 * 8]) < 100)
    assert np.abs(right[1000 * 8 :]).max() > 5000
