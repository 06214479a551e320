"""The installed end-of-turn model for tests, and caller audio to judge (espeak-ng, real audio).

A test that needs the weights and finds them missing skips locally (with the command that
installs them) and fails under CI (``CI=true``), where ``make test`` has installed them."""

from __future__ import annotations

import asyncio
import os

import numpy as np
import numpy.typing as npt
import pytest

from aybiza.agents.speech import VoiceOptions
from aybiza.audio.codec import ulaw_to_array
from aybiza.providers.tts.espeak import EspeakTts
from aybiza.providers.turn.model import EndOfTurnModel
from aybiza.providers.turn.weights import INSTALL_COMMAND, model_path


def installed_model() -> EndOfTurnModel:
    path = model_path()
    reason = f"end-of-turn model weights not at {path}; install them: {INSTALL_COMMAND}"
    if not path.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("onnxruntime is not installed")
        pytest.skip("onnxruntime is not installed (pip install -e .)")
    return EndOfTurnModel(path)


def say(text: str) -> bytes:
    """``text`` spoken by espeak-ng (en-us) as 8 kHz μ-law."""

    async def synthesize() -> bytes:
        tts = EspeakTts()
        try:
            return await tts.synthesize(text, VoiceOptions(model="en-us"))
        finally:
            await tts.aclose()

    return asyncio.run(synthesize())


def pcm(mulaw: bytes, silence_ms: int = 0) -> npt.NDArray[np.int16]:
    """μ-law audio as int16 samples, followed by ``silence_ms`` of silence."""
    return np.concatenate([ulaw_to_array(mulaw), np.zeros(silence_ms * 8, np.int16)])
