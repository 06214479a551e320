"""WAV files in and out: what the caller heard, and recorded lines at any common rate."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from aybiza.audio.codec import pcm16_to_ulaw, ulaw_to_array
from aybiza.simulator.wav import WavFormatError, read_wav_as_mulaw, write_wav


def _sine(rate: int, seconds: float, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (8000 * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def _write_pcm(path: Path, samples: np.ndarray, rate: int, channels: int = 1) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())


def test_written_wav_is_16_bit_8khz_mono_and_reads_back_identically(tmp_path: Path) -> None:
    mulaw = pcm16_to_ulaw(_sine(8000, 0.5))
    path = tmp_path / "heard.wav"
    write_wav(path, mulaw)
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
        assert wav.getnframes() == len(mulaw)
    assert read_wav_as_mulaw(path) == mulaw


@pytest.mark.parametrize("rate", [16000, 22050, 44100, 48000])
def test_other_rates_are_resampled_to_8khz(tmp_path: Path, rate: int) -> None:
    path = tmp_path / f"line-{rate}.wav"
    _write_pcm(path, _sine(rate, 0.5), rate)
    mulaw = read_wav_as_mulaw(path)
    assert abs(len(mulaw) - 4000) <= 2
    # Still a 440 Hz tone: the strongest FFT bin of the 8 kHz signal is at 440 Hz.
    spectrum = np.abs(np.fft.rfft(ulaw_to_array(mulaw).astype(np.float64)))
    peak_hz = np.argmax(spectrum) * 8000 / len(mulaw)
    assert abs(peak_hz - 440) < 10


def test_stereo_is_mixed_to_mono(tmp_path: Path) -> None:
    left = _sine(8000, 0.25)
    stereo = np.stack([left, left], axis=1).reshape(-1)
    path = tmp_path / "stereo.wav"
    _write_pcm(path, stereo, 8000, channels=2)
    assert read_wav_as_mulaw(path) == pcm16_to_ulaw(left)


def test_unreadable_files_are_named_with_what_was_found(tmp_path: Path) -> None:
    eight_bit = tmp_path / "8bit.wav"
    with wave.open(str(eight_bit), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)
        out.setframerate(8000)
        out.writeframes(b"\x80" * 100)
    with pytest.raises(WavFormatError, match="expected 16-bit samples, received 8-bit"):
        read_wav_as_mulaw(eight_bit)
    text = tmp_path / "notes.wav"
    text.write_text("hello")
    with pytest.raises(WavFormatError, match=r"notes\.wav"):
        read_wav_as_mulaw(text)
