"""Keyword overlap: the share of an expectation's content words (stemmed) a line contains."""

from __future__ import annotations

from aybiza.evals.similarity import contains_phrase, keyword_overlap, keywords


def test_function_words_are_dropped_and_inflections_match() -> None:
    assert keywords("Which day and time would suit you?") == ["day", "time", "suit"]
    match = keyword_overlap("You are booked for tomorrow", "Booking you in tomorrow morning.")
    assert (match.score, match.missing) == (1.0, ())


def test_the_missing_keywords_are_named_and_lower_the_score() -> None:
    match = keyword_overlap(
        "We are closed on Sundays", "We are open Monday to Friday and closed at weekends."
    )
    assert match.missing == ("sunday",)
    assert match.score == 0.5


def test_negations_and_yes_are_keywords() -> None:
    assert keyword_overlap("not booked", "You are booked.").missing == ("not",)
    assert keywords("yes") == ["yes"]
    assert keyword_overlap("Is that all?", "That is all.").score == 1.0


def test_phrases_match_whole_words_in_any_case() -> None:
    assert contains_phrase("Great, you are BOOKED for Monday!", "you are booked")
    assert not contains_phrase("you are unbooked", "you are booked")
    assert not contains_phrase("anything", "")
