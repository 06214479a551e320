"""Synthesized callee audio for answering-machine detection: spoken greetings (espeak-ng, the
project's local TTS), tones, silence and noise, all μ-law 8 kHz."""

from __future__ import annotations

import asyncio
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aybiza.agents.speech import VoiceOptions
from aybiza.audio.codec import FRAME_BYTES, SAMPLE_RATE_HZ, pcm16_to_ulaw, silence, ulaw_to_array
from aybiza.providers.tts.espeak import EspeakTts


def tone(frequency_hz: float, duration_ms: int, amplitude: float = 0.3) -> bytes:
    """A pure tone at ``amplitude`` of full scale."""
    n = SAMPLE_RATE_HZ * duration_ms // 1000
    t = np.arange(n) / SAMPLE_RATE_HZ
    wave = amplitude * 32767 * np.sin(2 * np.pi * frequency_hz * t)
    return pcm16_to_ulaw(wave.astype(np.int16))


def noise(duration_ms: int, amplitude: float = 0.02, seed: int = 7) -> bytes:
    """Line hiss: white noise at ``amplitude`` of full scale."""
    n = SAMPLE_RATE_HZ * duration_ms // 1000
    wave = np.random.default_rng(seed).normal(0, amplitude * 32767, n)
    return pcm16_to_ulaw(np.clip(wave, -32767, 32767).astype(np.int16))


@functools.cache
def spoken(text: str) -> bytes:
    async def synthesize() -> bytes:
        tts = EspeakTts()
        try:
            return await tts.synthesize(text, VoiceOptions(model="en-us"))
        finally:
            await tts.aclose()

    return asyncio.run(synthesize())


def frames(audio: bytes) -> list[bytes]:
    whole = len(audio) - len(audio) % FRAME_BYTES
    return [audio[i : i + FRAME_BYTES] for i in range(0, whole, FRAME_BYTES)]


def machine_greeting() -> bytes:
    """A voicemail greeting: several phrases for several seconds, then a beep."""
    return (
        silence(300)
        + spoken("Hi, you have reached Dana Whitfield at Northwind Dental.")
        + silence(300)
        + spoken("I cannot take your call right now, please leave a message after the tone.")
        + silence(400)
        + tone(1000, 500)
    )


def human_greeting() -> bytes:
    """A person picking up: a short hello, then waiting."""
    return silence(400) + spoken("Hello?") + silence(3000)


__all__ = [
    "Case",
    "cases",
    "frames",
    "human_greeting",
    "machine_greeting",
    "noise",
    "render",
    "silence",
    "spoken",
    "tone",
]


def render(script: list[dict[str, Any]]) -> bytes:
    """A scripted callee (``tests/data/answering_machines.json``) as μ-law audio: ``say`` (with
    optional ``noise`` under it), ``silence_ms``, ``noise_ms`` at ``level``, ``tone_hz`` for
    ``ms`` (with optional ``noise``)."""
    out = b""
    for step in script:
        if "say" in step:
            part = spoken(step["say"])
        elif "tone_hz" in step:
            part = tone(step["tone_hz"], step["ms"])
        elif "noise_ms" in step:
            part = noise(step["noise_ms"], step["level"])
        else:
            part = silence(step["silence_ms"])
        if "noise" in step:
            part = _mixed(part, noise(len(part) // 8, step["noise"]))
        out += part
    return out


def _mixed(a: bytes, b: bytes) -> bytes:
    n = min(len(a), len(b))
    pa = ulaw_to_array(a[:n]).astype(np.int32) + ulaw_to_array(b[:n]).astype(np.int32)
    return pcm16_to_ulaw(np.clip(pa, -32767, 32767).astype(np.int16))


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    label: str
    script: list[dict[str, Any]]


def cases() -> list[Case]:
    data = json.loads((Path(__file__).parents[1] / "data" / "answering_machines.json").read_text())
    return [Case(c["id"], c["label"], c["script"]) for c in data["cases"]]
