"""Caller sounds that are not words: a cough and a burst of line noise, as μ-law 8 kHz.

Made from seeded noise so every run hears the same audio. A cough is a loud, broadband burst
with a fast attack and an exponential decay, shaped like voiced noise (webrtcvad hears parts of
it as speech, as it does a real cough); line noise is crackle: short clicks over hiss.
"""

from __future__ import annotations

import numpy as np

from aybiza.audio.codec import SAMPLE_RATE_HZ, pcm16_to_ulaw

SOUNDS = ("cough", "line-noise")


def cough(duration_ms: int = 300, *, seed: int = 1, level: float = 9000.0) -> bytes:
    """One cough: noise through a rough vocal-tract resonance, fast attack, decaying."""
    rng = np.random.default_rng(seed)
    n = SAMPLE_RATE_HZ * duration_ms // 1000
    t = np.arange(n) / SAMPLE_RATE_HZ
    noise = rng.standard_normal(n)
    # A second-order resonance near 600 Hz gives the burst a throaty colour.
    r, theta = 0.97, 2 * np.pi * 600 / SAMPLE_RATE_HZ
    shaped = np.zeros(n)
    for i in range(2, n):
        shaped[i] = noise[i] + 2 * r * np.cos(theta) * shaped[i - 1] - r * r * shaped[i - 2]
    envelope = np.minimum(t / 0.01, 1.0) * np.exp(-t / (duration_ms / 1000 / 3))
    signal = shaped / (np.max(np.abs(shaped)) or 1.0) * envelope * level
    return pcm16_to_ulaw(signal.astype(np.int16))


def line_noise(duration_ms: int = 400, *, seed: int = 2, level: float = 6000.0) -> bytes:
    """Crackle on the line: hiss with a few loud clicks."""
    rng = np.random.default_rng(seed)
    n = SAMPLE_RATE_HZ * duration_ms // 1000
    signal = rng.standard_normal(n) * level * 0.15
    for start in rng.integers(0, max(n - 80, 1), size=max(duration_ms // 40, 1)):
        width = int(rng.integers(20, 80))
        signal[start : start + width] += rng.standard_normal(width) * level
    return pcm16_to_ulaw(np.clip(signal, -32767, 32767).astype(np.int16))


def sound(name: str, duration_ms: int, seed: int) -> bytes:
    """The named sound (one of ``SOUNDS``)."""
    if name == "cough":
        return cough(duration_ms, seed=seed)
    if name == "line-noise":
        return line_noise(duration_ms, seed=seed)
    raise ValueError(f"sound must be one of {SOUNDS}, got {name!r}")
