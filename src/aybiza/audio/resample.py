"""Streaming sample-rate conversion for the embedded engines (soxr).

Cloud engines never resample: audio stays μ-law 8 kHz end to end. Only the embedded engines
need other rates (espeak-ng speaks at 22.05 kHz, pocketsphinx's model listens at 16 kHz), and
they convert audio in pieces as it arrives, so the filter state must carry across pieces or every
boundary would click.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import soxr


class StreamResampler:
    """Converts one continuous mono int16 signal from ``in_rate_hz`` to ``out_rate_hz``, piece by
    piece. Use one instance per signal (one sentence, one utterance) and call ``flush`` at its end
    to get the samples still held in the filter."""

    def __init__(self, in_rate_hz: int, out_rate_hz: int, quality: str = "HQ") -> None:
        self.in_rate_hz = in_rate_hz
        self.out_rate_hz = out_rate_hz
        self._stream = soxr.ResampleStream(
            in_rate_hz, out_rate_hz, 1, dtype="int16", quality=quality
        )
        self._flushed = False

    def process(self, samples: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
        """Resample the next piece; may return fewer samples than expected (filter delay)."""
        if self._flushed:
            raise RuntimeError("StreamResampler.process called after flush(); use a new resampler")
        out: npt.NDArray[np.int16] = self._stream.resample_chunk(samples)
        return out

    def flush(self) -> npt.NDArray[np.int16]:
        """End the signal and return the samples still in the filter. Call once."""
        if self._flushed:
            return np.zeros(0, np.int16)
        self._flushed = True
        out: npt.NDArray[np.int16] = self._stream.resample_chunk(np.zeros(0, np.int16), last=True)
        return out
