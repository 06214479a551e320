import asyncio

import numpy as np
import pytest
import webrtcvad

from aybiza.agents.speech import VoiceOptions
from aybiza.audio.codec import ENCODE_TABLE, FRAME_BYTES, SAMPLE_RATE_HZ, silence, ulaw_to_pcm16
from aybiza.pipeline.vad import VoiceActivityDetector
from aybiza.providers.tts.espeak import EspeakTts


def frames(audio: bytes) -> list[bytes]:
    return [audio[i : i + FRAME_BYTES] for i in range(0, len(audio) - FRAME_BYTES + 1, FRAME_BYTES)]


def spoken(text: str) -> bytes:
    async def synthesize() -> bytes:
        tts = EspeakTts()
        try:
            return await tts.synthesize(text, VoiceOptions(model="en-us"))
        finally:
            await tts.aclose()

    return asyncio.run(synthesize())


def test_speech_starts_and_ends_once_with_silence_around_it() -> None:
    audio = silence(500) + spoken("I would like to book an appointment") + silence(1000)
    vad = VoiceActivityDetector(end_silence_ms=500)
    starts, ends = [], []
    for index, frame in enumerate(frames(audio)):
        state = vad.feed(frame)
        if state.started:
            starts.append(index)
        if state.ended:
            ends.append(index)
    assert len(starts) == 1 and len(ends) == 1
    # Speech starts after the 500 ms of lead-in (25 frames), within the start window.
    assert 25 <= starts[0] <= 35
    # It ends 500 ms (25 frames) after the last voiced frame, before the audio runs out.
    assert ends[0] > starts[0] + 25
    assert ends[0] <= len(frames(audio)) - 1


def test_silence_never_starts_speech_and_counts_its_length() -> None:
    vad = VoiceActivityDetector()
    for frame in frames(silence(2000)):
        state = vad.feed(frame)
        assert not state.speaking and not state.started
    assert vad.state.silence_ms == 2000


def test_a_short_frame_is_not_speech() -> None:
    vad = VoiceActivityDetector()
    assert not vad.feed(b"\x00" * 80).speaking


def test_speech_length_excludes_the_trailing_silence() -> None:
    speech = spoken("tomorrow morning")
    vad = VoiceActivityDetector(end_silence_ms=400)
    at_end = [
        state.speech_ms
        for state in (vad.feed(f) for f in frames(silence(200) + speech + silence(800)))
        if state.ended
    ]
    assert len(at_end) == 1
    # About the synthesized audio's length (8 bytes per ms; webrtcvad decides per frame and
    # holds on a few frames), the 400 ms of end silence not counted.
    assert 300 <= at_end[0] <= len(speech) / 8 + 120


def _mixture(seed: int) -> bytes:
    """Speech cut anywhere, digital silence (both zero codes), faint and louder noise, in a
    random order: where the gate could go wrong (a voice's tail, the first zero frames)."""
    rng = np.random.default_rng(seed)
    lines = [spoken(text) for text in ("I would like to book an appointment", "yes", "goodbye")]

    def noise(samples: int, peak: int) -> bytes:
        values = rng.integers(-peak, peak + 1, samples).astype(np.int16)
        return bytes(ENCODE_TABLE[values.view(np.uint16)])

    pieces: list[bytes] = []
    for _ in range(40):
        kind, samples = int(rng.integers(0, 5)), int(rng.integers(1, 100)) * 40
        line = lines[int(rng.integers(len(lines)))]
        if kind == 0:
            start = int(rng.integers(0, len(line) // 2))
            pieces.append(line[start : start + int(rng.integers(400, len(line)))])
        elif kind == 1:
            pieces.append(silence(samples // 8))
        elif kind == 2:
            pieces.append(b"\x7f" * samples)
        elif kind == 3:
            pieces.append(noise(samples, int(rng.integers(1, 300))))
        else:
            pieces.append(line)
    return b"".join(pieces)


@pytest.mark.parametrize("aggressiveness", [0, 2, 3])
def test_skipping_digital_silence_changes_no_decision(aggressiveness: int) -> None:
    audio = _mixture(seed=aggressiveness)
    gated = VoiceActivityDetector(aggressiveness=aggressiveness)
    plain = webrtcvad.Vad(aggressiveness)
    decisions = [
        (gated.voiced(frame), bool(plain.is_speech(ulaw_to_pcm16(frame), SAMPLE_RATE_HZ)))
        for frame in frames(audio)
    ]
    assert [ours for ours, _ in decisions] == [theirs for _, theirs in decisions]
    assert sum(theirs for _, theirs in decisions) > 50  # speech was heard
    assert gated.skipped > 50  # and the gate did skip silence


def test_without_the_gate_every_frame_goes_to_webrtcvad() -> None:
    vad = VoiceActivityDetector(gate=False)
    for frame in frames(silence(1000)):
        vad.feed(frame)
    assert vad.skipped == 0 and vad.state.silence_ms == 1000
