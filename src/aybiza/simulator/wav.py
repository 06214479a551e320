"""WAV files in and out of the simulator: what the caller heard, and recorded caller lines.

Calls carry μ-law 8 kHz; WAV files are 16-bit PCM. Reading accepts the usual recording rates
(8, 16, 22.05, 44.1, 48 kHz, and any other), mono or stereo, and resamples with soxr.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import soxr

from aybiza.audio.codec import SAMPLE_RATE_HZ, pcm16_to_ulaw, ulaw_to_pcm16


class WavFormatError(ValueError):
    """The file is not a WAV the simulator can read; the message names what was found."""


def write_wav(path: str | Path, mulaw: bytes) -> None:
    """Write μ-law 8 kHz audio as a mono 16-bit PCM 8 kHz WAV file."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE_HZ)
        out.writeframes(ulaw_to_pcm16(mulaw))


def read_wav_as_mulaw(path: str | Path) -> bytes:
    """Read a 16-bit PCM WAV (mono or stereo, any rate) as μ-law 8 kHz mono."""
    try:
        with wave.open(str(path), "rb") as source:
            channels = source.getnchannels()
            width = source.getsampwidth()
            rate = source.getframerate()
            frames = source.readframes(source.getnframes())
    except (wave.Error, EOFError) as exc:
        raise WavFormatError(
            f"{path}: expected a 16-bit PCM WAV file, could not read it ({exc})"
        ) from exc
    if width != 2:
        raise WavFormatError(
            f"{path}: expected 16-bit samples, received {width * 8}-bit; "
            "convert it with `sox in.wav -b 16 out.wav`"
        )
    if channels not in (1, 2):
        raise WavFormatError(f"{path}: expected mono or stereo, received {channels} channels")
    samples = np.frombuffer(frames, "<i2")
    if channels == 2:
        # Average in int32 so two loud channels cannot overflow.
        samples = (samples.reshape(-1, 2).astype(np.int32).sum(axis=1) // 2).astype(np.int16)
    if rate != SAMPLE_RATE_HZ and samples.size:
        samples = soxr.resample(samples, rate, SAMPLE_RATE_HZ)
    return pcm16_to_ulaw(np.ascontiguousarray(samples, dtype=np.int16))
