"""Text completeness: which caller words read as a finished turn."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aybiza.conversation.turn_completeness import is_finished

DATA = Path(__file__).resolve().parents[1] / "data" / "turns" / "end_of_turn.json"


@pytest.mark.parametrize(
    "text",
    [
        "My number is",
        "I would like to book a table for",
        "I was wondering if",
        "Um",
        "My phone number is five five five",
        "Call me back at",
        "Yes and",
        "So the thing is...",
    ],
)
def test_words_that_need_a_continuation_are_unfinished(text: str) -> None:
    assert not is_finished(text)


@pytest.mark.parametrize(
    "text",
    [
        "What are your opening hours",
        "Yes please.",
        "My number is five five five one two one two",
        "Thank you",
        "I called before",
        "No",
    ],
)
def test_finished_sentences_are_finished(text: str) -> None:
    assert is_finished(text)


def test_nothing_said_is_not_a_finished_turn() -> None:
    assert not is_finished("") and not is_finished("  ...")


def test_the_scripted_set_first_parts_are_unfinished_except_the_hard_cases() -> None:
    data = json.loads(DATA.read_text())
    caught = {t["id"]: not is_finished(t["parts"][0]) for t in data["pauses"]}
    assert [i for i, ok in caught.items() if not ok] == [
        t["id"] for t in data["pauses"] if t.get("hard")
    ]
    assert all(is_finished(" ".join(t["parts"])) for t in data["finished"])
