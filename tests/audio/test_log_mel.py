"""Whisper-style log-mel features (``aybiza.audio.log_mel``) against known properties."""

from __future__ import annotations

import numpy as np
import pytest

from aybiza.audio.log_mel import (
    FRAMES,
    N_MELS,
    SAMPLE_RATE_HZ,
    WINDOW_SAMPLES,
    hz_to_mel,
    log_mel,
    mel_filters,
    mel_to_hz,
    telephony_window,
)


def sine(hz: float, seconds: float, rate: int = SAMPLE_RATE_HZ) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return 0.5 * np.sin(2 * np.pi * hz * t)


def test_the_features_are_80_mel_bins_by_800_frames_of_float32() -> None:
    features = log_mel(sine(440, 2))
    assert features.shape == (N_MELS, FRAMES) == (80, 800)
    assert features.dtype == np.float32


@pytest.mark.parametrize("hz", [280.0, 1000.0, 2520.0, 6000.0])
def test_a_sine_lands_in_the_mel_bin_whose_filter_peaks_at_its_frequency(hz: float) -> None:
    features = log_mel(sine(hz, 8))
    loudest = int(np.argmax(features[:, 400]))
    fft_bin = round(hz * 400 / SAMPLE_RATE_HZ)
    assert loudest == int(np.argmax(mel_filters()[:, fft_bin]))
    assert np.argmax(features.mean(axis=1)) == loudest


def test_the_mel_scale_is_linear_below_1_khz_and_logarithmic_above() -> None:
    assert hz_to_mel(500) == pytest.approx(7.5)
    assert hz_to_mel(1000) == pytest.approx(15.0)
    assert hz_to_mel(6400) == pytest.approx(15.0 + 27.0)
    assert mel_to_hz(hz_to_mel([123.0, 4567.0])) == pytest.approx([123.0, 4567.0])


def test_each_filter_has_unit_area_in_hz() -> None:
    bin_hz = SAMPLE_RATE_HZ / 400
    areas = mel_filters().sum(axis=1) * bin_hz
    # The lower filters span a few FFT bins only, so only the wider ones integrate well.
    assert areas[30:] == pytest.approx(np.ones(N_MELS - 30), rel=0.1)


def test_values_are_clamped_to_80_db_below_the_peak_and_scaled() -> None:
    features = log_mel(sine(1000, 1))
    assert features.max() - features.min() == pytest.approx(2.0, abs=1e-4)  # 8 decades / 4


def test_short_audio_is_padded_with_silence_in_front() -> None:
    features = log_mel(sine(1000, 1))
    # The last second (frames 700..799) holds the tone, the first seven the padding.
    assert features[:, :690].max() == pytest.approx(features.min(), abs=1e-4)
    assert features[:, 710:].max() > features[:, :690].max() + 1.0


def test_only_the_last_8_seconds_count() -> None:
    long = np.concatenate([sine(300, 5), sine(3000, 8)])
    assert np.array_equal(log_mel(long), log_mel(sine(3000, 8)))


def test_telephony_audio_is_resampled_to_16_khz() -> None:
    tone = (sine(1000, 2, rate=8000) * 32767).astype(np.int16)
    window = telephony_window(tone)
    assert window.shape == (WINDOW_SAMPLES,)
    spectrum = np.abs(np.fft.rfft(window[-SAMPLE_RATE_HZ:]))
    assert np.argmax(spectrum) == 1000  # 1 Hz per bin over one second
