"""Tone power at chosen frequencies (the Goertzel algorithm's single-bin DFT).

Goertzel's recurrence computes one DFT bin of a block of samples. For a bank of frequencies on
20 ms telephone frames the same numbers come out of multiplying the block by each bin's cosine
and sine and summing, which numpy does in C instead of a Python loop per sample; that is how
the bank evaluates them. ``ToneBank.strongest`` reports the frequency holding the largest share of a
frame's energy: 1.0 for a pure tone on a bin, near 0 for speech spread over many harmonics or
for noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from aybiza.audio.codec import DECODE_TABLE, FRAME_BYTES, SAMPLE_RATE_HZ

# Frames quieter than this (mean square of 16-bit samples) carry no tone worth reporting:
# about -50 dBFS, below the quietest beep a phone plays.
MIN_TONE_POWER = 32768.0**2 * 10 ** (-50 / 10)


@dataclass(frozen=True, slots=True)
class Tone:
    """The strongest bin of a frame: its frequency and its share of the frame's energy."""

    frequency_hz: float
    share: float


class ToneBank:
    """DFT bins at ``frequencies_hz`` over blocks of ``block`` samples at ``sample_rate_hz``."""

    def __init__(
        self,
        frequencies_hz: Sequence[float],
        *,
        block: int = FRAME_BYTES,
        sample_rate_hz: int = SAMPLE_RATE_HZ,
    ) -> None:
        if not frequencies_hz:
            raise ValueError("a tone bank needs at least one frequency")
        self.frequencies_hz = np.asarray(frequencies_hz, dtype=np.float64)
        self.block = block
        n = np.arange(block)
        phase = 2 * np.pi * np.outer(self.frequencies_hz, n) / sample_rate_hz
        self._cos: npt.NDArray[np.float64] = np.cos(phase)
        self._sin: npt.NDArray[np.float64] = np.sin(phase)

    def powers(self, samples: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Each bin's share of the block's energy (a pure tone on a bin gives 1.0 there)."""
        x = np.asarray(samples, dtype=np.float64)
        if x.shape != (self.block,):
            raise ValueError(f"expected {self.block} samples, got {x.shape}")
        energy = float(np.dot(x, x))
        if energy == 0.0:
            return np.zeros(len(self.frequencies_hz))
        # Element-wise products, not a matrix product: BLAS would spread a product this small
        # over threads that cost far more than the arithmetic on a busy machine.
        real = (self._cos * x).sum(axis=1)
        imaginary = (self._sin * x).sum(axis=1)
        power = real * real + imaginary * imaginary
        return np.asarray(2.0 * power / (self.block * energy), dtype=np.float64)

    def strongest(self, samples: npt.ArrayLike) -> Tone | None:
        """The bin with the largest share of a block, or None when the block is too quiet."""
        x = np.asarray(samples, dtype=np.float64)
        if x.shape == (self.block,) and float(np.dot(x, x)) / self.block < MIN_TONE_POWER:
            return None
        shares = self.powers(x)
        best = int(np.argmax(shares))
        return Tone(float(self.frequencies_hz[best]), float(shares[best]))

    def strongest_in_ulaw(self, frame: bytes) -> Tone | None:
        """``strongest`` of one μ-law frame."""
        return self.strongest(DECODE_TABLE[np.frombuffer(frame, np.uint8)])
