"""The embedded analyser agrees with a hand-labelled set of calls (tests/data/labelled_calls.json):
the caller's sentiment over the whole call and whether the call succeeded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aybiza.automation.workflows.embedded import Transcript, analyze
from aybiza.automation.workflows.sentiment import caller_sentiment, score_line

LABELLED = Path(__file__).parents[1] / "data" / "labelled_calls.json"


def labelled_calls() -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = json.loads(LABELLED.read_text())["calls"]
    return calls


def analysed(call: dict[str, Any]) -> dict[str, Any]:
    lines = [(speaker, text) for speaker, text in call["lines"]]
    transcript = Transcript(
        lines=lines,
        caller_turns=[text for speaker, text in lines if speaker == "caller"],
        ended_reason=call["ended_reason"],
    )
    return analyze(transcript, {})


def test_item18_the_embedded_analyser_agrees_with_every_labelled_call() -> None:
    calls = labelled_calls()
    disagreements = []
    for call in calls:
        result = analysed(call)
        got = (result["sentiment"], result["success"])
        if got != (call["sentiment"], call["success"]):
            disagreements.append(
                f"{call['id']}: labelled {call['sentiment']}/{call['success']}, "
                f"analysed {got[0]}/{got[1]} ({result['success_reason']})"
            )

    assert len(calls) >= 30
    agreed = len(calls) - len(disagreements)
    assert not disagreements, f"{agreed}/{len(calls)} agree:\n" + "\n".join(disagreements)


def test_the_labelled_set_covers_both_verdicts_and_every_sentiment() -> None:
    calls = labelled_calls()

    assert {call["sentiment"] for call in calls} == {"positive", "neutral", "negative"}
    assert {call["success"] for call in calls} == {True, False}
    assert len({call["id"] for call in calls}) == len(calls)


@pytest.mark.parametrize(
    ("line", "score", "thanked"),
    [
        ("No, thank you.", 0, True),
        ("no thank you", 0, True),
        ("That was not helpful at all.", -1, False),
        ("not bad, thanks", 1, True),
        ("no problem", 1, False),
        ("no. thanks for nothing", -1, False),
        ("I'm not sure, maybe friday", 0, False),
        ("I need to cancel my appointment", 0, False),
        ("This is ridiculous, I have been waiting all week.", -2, False),
    ],
)
def test_a_line_is_scored_with_negation_kept_to_its_clause(
    line: str, score: int, thanked: bool
) -> None:
    scored = score_line(line)
    assert (scored.score, scored.thanked) == (score, thanked)


def test_each_line_is_one_vote_so_one_wordy_line_does_not_decide_the_call() -> None:
    lines = ["This is terrible, awful, useless.", "Oh that is good.", "Great."]
    assert caller_sentiment(lines) == "positive"
    # An even call with a negative line in it is mixed, not positive, even if thanked.
    assert caller_sentiment(["my booking is wrong", "that's great, thanks"]) == "neutral"
