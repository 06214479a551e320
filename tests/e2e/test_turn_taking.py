"""Pause, then decide, and end of turn, through the real server with the Twilio simulator:
a backchannel resumes the greeting without repeating a word, a real interruption cuts it, and a
sentence with a pause in the middle is answered once, whole."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.providers.turn_model_kit import installed_model

from .turn_rig import EngineDelays, TurnStack, run_barge_in, run_turn, turn_stack


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[TurnStack]:
    # The end-of-turn model's verdict may take its time on a loaded test machine: the server
    # waits for it (in production a verdict later than 200 ms leaves the decision to the text).
    wait = {"AYBIZA_TURN_MODEL_WAIT_MS": "5000"}
    model_on = {"end_of_turn_model": True}
    async with turn_stack(
        tmp_path, EngineDelays(), server_env=wait, parameters=model_on
    ) as running:
        yield running


async def test_a_backchannel_resumes_and_an_interruption_cuts(stack: TurnStack) -> None:
    backchannel = {
        "id": "uh-huh",
        "say": "uh-huh",
        "transcript": "Uh-huh.",
        "interrupts": False,
    }
    resumed = await run_barge_in(stack, backchannel, at_ms=1000)
    assert resumed.clear_ms is not None, "the agent stopped for the sound"
    assert not resumed.cut, "the greeting went on to its end"
    assert (resumed.repeated_words, resumed.skipped_words) == (0, 0)

    interruption = {
        "id": "question",
        "say": "wait I have a question",
        "transcript": "Wait, I have a question.",
        "interrupts": True,
    }
    cut = await run_barge_in(stack, interruption, at_ms=1000)
    assert cut.clear_ms is not None and cut.cut


async def test_a_pause_mid_sentence_is_not_the_end_of_the_turn(stack: TurnStack) -> None:
    trial = {"id": "number", "parts": ["My number is", "five five five one two one two"]}
    result = await run_turn(stack, {**trial, "pause_ms": 700})
    assert not result.cut_off, "the agent waited for the rest of the number"
    assert result.reply_ms is not None
    [listen] = stack.deepgram.listen_connections[-1:]
    assert any(m.get("type") == "Finalize" for m in listen.control)


async def test_the_model_holds_a_pause_after_words_that_read_finished(stack: TurnStack) -> None:
    # "I want to cancel" reads as a finished sentence; the end-of-turn model hears the voice
    # stop short and holds the turn, so the agent answers the whole sentence once.
    installed_model()
    trial = {"id": "cancel", "parts": ["I want to cancel", "my subscription"], "pause_ms": 800}
    result = await run_turn(stack, trial)
    assert not result.cut_off, "the agent waited for the rest of the sentence"
    assert result.reply_ms is not None
