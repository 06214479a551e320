"""Whisper-style log-mel spectrogram in numpy: the input of the end-of-turn model.

Written from the published description of Whisper's front end (Radford et al., 2022, and the
model card of the Smart Turn v3 end-of-turn model, which reuses it):

- 16 kHz mono audio, a fixed window (Smart Turn: the last 8 s, padded with silence in front);
- the waveform normalised to zero mean and unit variance;
- a short-time Fourier transform with a 400-sample (25 ms) periodic Hann window and a hop of
  160 samples (10 ms), the signal padded by half a window on each side by reflection, so frame
  ``t`` is centred on sample ``160 t``; the last frame is dropped (8 s -> 800 frames);
- the power spectrum mapped onto 80 triangular mel filters from 0 to 8 kHz (the Slaney mel
  scale: linear below 1 kHz, logarithmic above; each filter scaled to unit area);
- ``log10`` of the mel energies floored at 1e-10, clamped to at most 8 (80 dB) below the
  loudest value, then shifted and scaled as ``(x + 4) / 4``.

Telephony audio is 8 kHz: ``telephony_window`` resamples it to 16 kHz first.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import numpy.typing as npt
import soxr

SAMPLE_RATE_HZ = 16_000
N_FFT = 400
HOP = 160
N_MELS = 80
WINDOW_S = 8
WINDOW_SAMPLES = WINDOW_S * SAMPLE_RATE_HZ
FRAMES = WINDOW_SAMPLES // HOP  # 800

Float32Array = npt.NDArray[np.float32]

# Slaney mel scale: 3 mels per 200 Hz up to 1 kHz (15 mels), then 27 mels per factor 6.4.
_LINEAR_HZ_PER_MEL = 200.0 / 3.0
_BREAK_HZ = 1000.0
_BREAK_MEL = _BREAK_HZ / _LINEAR_HZ_PER_MEL
_LOG_STEP = np.log(6.4) / 27.0


def hz_to_mel(hz: npt.ArrayLike) -> npt.NDArray[np.float64]:
    f = np.asarray(hz, np.float64)
    above = _BREAK_MEL + np.log(np.maximum(f, _BREAK_HZ) / _BREAK_HZ) / _LOG_STEP
    return np.where(f < _BREAK_HZ, f / _LINEAR_HZ_PER_MEL, above)


def mel_to_hz(mel: npt.ArrayLike) -> npt.NDArray[np.float64]:
    m = np.asarray(mel, np.float64)
    above = _BREAK_HZ * np.exp(_LOG_STEP * (np.maximum(m, _BREAK_MEL) - _BREAK_MEL))
    return np.where(m < _BREAK_MEL, m * _LINEAR_HZ_PER_MEL, above)


@cache
def mel_filters() -> Float32Array:
    """(80, 201) triangular filters over the FFT bins, Slaney-normalised (unit area)."""
    fft_hz = np.linspace(0.0, SAMPLE_RATE_HZ / 2, N_FFT // 2 + 1)
    edges_hz = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(SAMPLE_RATE_HZ / 2), N_MELS + 2))
    lower, centre, upper = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    rising = (fft_hz[None, :] - lower) / (centre - lower)
    falling = (upper - fft_hz[None, :]) / (upper - centre)
    triangles = np.maximum(0.0, np.minimum(rising, falling))
    area = 2.0 / (edges_hz[2:] - edges_hz[:-2])
    filters: Float32Array = (triangles * area[:, None]).astype(np.float32)
    return filters


@cache
def _hann() -> Float32Array:
    # Periodic (not symmetric) Hann: the window of a length-400 DFT.
    n = np.arange(N_FFT)
    window: Float32Array = (0.5 - 0.5 * np.cos(2 * np.pi * n / N_FFT)).astype(np.float32)
    return window


def fit_window(samples: npt.ArrayLike) -> Float32Array:
    """The last 8 s of 16 kHz ``samples`` (float, any scale), silence-padded in front."""
    audio = np.asarray(samples, np.float32).ravel()[-WINDOW_SAMPLES:]
    if audio.size < WINDOW_SAMPLES:
        audio = np.concatenate([np.zeros(WINDOW_SAMPLES - audio.size, np.float32), audio])
    return audio


def log_mel(samples: npt.ArrayLike) -> Float32Array:
    """(80, 800) features of the 8 s window ending with ``samples`` (16 kHz)."""
    audio = fit_window(samples)
    audio = (audio - audio.mean()) / np.sqrt(audio.var() + 1e-7)
    padded = np.pad(audio, N_FFT // 2, mode="reflect")
    # (800, 400): frame t starts at sample 160 t of the padded signal; the 801st is dropped.
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP][:FRAMES]
    spectrum = np.fft.rfft(frames * _hann(), axis=1)  # (800, 201)
    power = spectrum.real**2 + spectrum.imag**2
    mel = mel_filters() @ power.T  # (80, 800)
    logs = np.log10(np.maximum(mel, 1e-10))
    logs = np.maximum(logs, logs.max() - 8.0)
    features: Float32Array = ((logs + 4.0) / 4.0).astype(np.float32)
    return features


def telephony_window(pcm_8k: npt.NDArray[np.int16]) -> Float32Array:
    """8 kHz int16 caller audio as the model's 16 kHz float window (the last 8 s)."""
    tail = pcm_8k[-WINDOW_S * 8000 :].astype(np.float32) / 32768.0
    upsampled: Float32Array = soxr.resample(tail, 8000, SAMPLE_RATE_HZ, quality="HQ")
    return fit_window(upsampled)
