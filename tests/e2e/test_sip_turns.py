"""Turn taking over SIP and RTP through the real server: a sentence with a pause in the middle
is answered once, whole, and a backchannel made while the agent speaks stops its RTP and the
greeting resumes without repeating a word."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from .turn_rig import EngineDelays
from .turn_rig_sip import SipTurnStack, run_sip_barge_in, run_sip_turn, sip_turn_stack


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[SipTurnStack]:
    wait = {"AYBIZA_TURN_MODEL_WAIT_MS": "5000"}
    async with sip_turn_stack(
        tmp_path, EngineDelays(), server_env=wait, parameters={"end_of_turn_model": True}
    ) as running:
        yield running


async def test_over_sip_a_pause_is_not_a_cut_off_and_a_backchannel_resumes(
    stack: SipTurnStack,
) -> None:
    trial = {"id": "number", "parts": ["My number is", "five five five one two one two"]}
    turn = await run_sip_turn(stack, {**trial, "pause_ms": 700})
    assert not turn.cut_off, "the agent waited for the rest of the number"
    assert turn.reply_ms is not None

    backchannel = {"id": "uh-huh", "say": "uh-huh", "transcript": "Uh-huh.", "interrupts": False}
    resumed = await run_sip_barge_in(stack, backchannel, at_ms=1000)
    assert resumed.clear_ms is not None, "the agent's RTP stopped for the sound"
    assert not resumed.cut, "the greeting went on to its end"
    # Words skipped at the resume are a figure of bench.turns --carrier sip (docs/conversation.md).
    assert resumed.repeated_words == 0
