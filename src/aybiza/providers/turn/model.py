"""The end-of-turn model: Smart Turn v3 (ONNX) on the caller's last 8 s of audio.

Given the audio of a caller's turn up to a short silence, the model says how likely the caller
has finished (a probability; above 0.5 means finished). It hears intonation and rhythm, which
text cannot: "I want to cancel ..." with a rising, unfinished voice.

One ``InferenceSession`` per process, loaded on first use, and every decision runs on one shared
single-thread executor: never on the event loop, and never more than one inference at a time per
process (the model takes a few ms; ``python -m bench.turn_model`` measures it). When the weights
or onnxruntime are missing, ``shared_model()`` returns None and says so once in the log; the
``TurnDetector`` then judges turns by text alone.

The model's input ``input_features`` is (batch, 80, 800) log-mel features (``audio.log_mel``);
its output ``logits`` is (batch, 1), already a probability (the export ends in a sigmoid).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import structlog

from aybiza.audio.log_mel import log_mel, telephony_window
from aybiza.providers.turn.weights import INSTALL_COMMAND, model_path

log = structlog.get_logger(__name__)

INPUT_NAME = "input_features"
FINISHED_ABOVE = 0.5

_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="end-of-turn")
_lock = threading.Lock()
_shared: dict[Path, EndOfTurnModel | None] = {}


class EndOfTurnModel:
    """The model at ``path``; ``probability`` runs one decision (blocking),
    ``finished_probability`` runs it on the shared executor."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._session: Any = None

    def _load(self) -> Any:
        if self._session is None:
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
            self._session = onnxruntime.InferenceSession(
                str(self.path), options, providers=["CPUExecutionProvider"]
            )
        return self._session

    def probability(self, pcm_8k: npt.NDArray[np.int16]) -> float:
        """How likely the caller has finished, from their 8 kHz audio up to now (blocking)."""
        features = log_mel(telephony_window(pcm_8k))[None, :, :]
        outputs = self._load().run(None, {INPUT_NAME: features})
        return float(np.asarray(outputs[0]).reshape(-1)[0])

    async def finished_probability(
        self, pcm_8k: npt.NDArray[np.int16], still_wanted: Callable[[], bool] | None = None
    ) -> float | None:
        """``probability`` on the shared executor; None, without running the model, when
        ``still_wanted`` says no once the decision's turn on the executor comes."""

        def decide() -> float | None:
            if still_wanted is not None and not still_wanted():
                return None
            return self.probability(pcm_8k)

        return await asyncio.get_running_loop().run_in_executor(_executor, decide)

    def warm(self) -> None:
        """Load the session now (blocking), e.g. on the executor at server start."""
        self._load()


def _onnxruntime_missing() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return True
    return False


def shared_model() -> EndOfTurnModel | None:
    """The process's model, or None (logged once) when its weights or onnxruntime are missing."""
    path = model_path()
    with _lock:
        if path not in _shared:
            model: EndOfTurnModel | None = None
            if not path.is_file():
                log.warning(
                    "turn_model.missing",
                    path=str(path),
                    fallback="text completeness only",
                    install=INSTALL_COMMAND,
                )
            elif _onnxruntime_missing():
                log.warning("turn_model.no_onnxruntime", fallback="text completeness only")
            else:
                model = EndOfTurnModel(path)
                log.info("turn_model.ready", path=str(path))
            _shared[path] = model
        return _shared[path]


async def warm_shared_model() -> None:
    """Load the shared model's session on the executor (server start), if there is one."""
    model = shared_model()
    if model is not None:
        await asyncio.get_running_loop().run_in_executor(_executor, model.warm)
