"""The end-of-turn model (Smart Turn v3.2 ONNX) on real caller audio made with espeak-ng."""

from __future__ import annotations

from pathlib import Path

import pytest

from aybiza.providers.turn import weights
from aybiza.providers.turn.model import FINISHED_ABOVE, INPUT_NAME, EndOfTurnModel

from .turn_model_kit import installed_model, pcm, say


@pytest.fixture(scope="module")
def model() -> EndOfTurnModel:
    return installed_model()


def test_the_installed_weights_are_the_pinned_file(model: EndOfTurnModel) -> None:
    assert weights.sha256(model.path.read_bytes()) == weights.SHA256


def test_the_model_takes_80_by_800_log_mels_and_gives_one_probability() -> None:
    model = installed_model()
    model.warm()
    session = model._load()
    [features] = session.get_inputs()
    [output] = session.get_outputs()
    assert (features.name, features.shape[1:]) == (INPUT_NAME, [80, 800])
    assert (output.name, output.shape[1:]) == ("logits", [1])


def test_a_finished_question_is_heard_finished(model: EndOfTurnModel) -> None:
    probability = model.probability(pcm(say("Where is my order"), silence_ms=120))
    assert probability > FINISHED_ABOVE


def test_a_sentence_cut_after_its_verb_is_heard_unfinished(model: EndOfTurnModel) -> None:
    # The words read as finished ("I want to cancel"); the voice, not the text, says more comes.
    probability = model.probability(pcm(say("I want to cancel"), silence_ms=120))
    assert 0.0 <= probability < FINISHED_ABOVE


@pytest.fixture(scope="module")
def question() -> bytes:
    return say("Where is my order")


async def test_decisions_run_on_the_shared_executor(model: EndOfTurnModel, question: bytes) -> None:
    audio = pcm(question, silence_ms=120)
    assert await model.finished_probability(audio) == pytest.approx(model.probability(audio))


def test_the_weights_path_is_a_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(weights.ENV_VAR, str(tmp_path / "model.onnx"))
    assert weights.model_path() == tmp_path / "model.onnx"
    monkeypatch.delenv(weights.ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert weights.model_path() == tmp_path / "aybiza" / weights.FILE_NAME


def test_a_file_that_is_not_the_pinned_weights_is_not_installed(tmp_path: Path) -> None:
    fake = tmp_path / weights.FILE_NAME
    fake.write_bytes(b"not a model")
    assert not weights.is_installed(fake)
    assert not weights.is_installed(tmp_path / "absent.onnx")


async def test_a_decision_no_longer_wanted_is_skipped(
    model: EndOfTurnModel, question: bytes
) -> None:
    audio = pcm(question, silence_ms=120)
    assert await model.finished_probability(audio, still_wanted=lambda: False) is None
