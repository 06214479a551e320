"""The labelled set of caller utterances: at least 300, written and spoken forms and near misses
of every category, and the redactor's recall (>= 0.99) and precision (>= 0.95) per category.
``python -m bench.pii`` prints the same table with the time per utterance."""

from __future__ import annotations

from collections import Counter

from tests.security.pii_eval import load, score

from aybiza.security.pii import CATEGORIES, Redactor


def test_the_set_has_300_utterances_with_every_category_written_spoken_and_missed() -> None:
    utterances = load()
    assert len(utterances) >= 300
    forms = Counter(u.form for u in utterances)
    assert forms["near_miss"] >= 100 and forms["written"] >= 100 and forms["spoken"] >= 100
    for form in ("written", "spoken"):
        categories = {s.category for u in utterances if u.form == form for s in u.spans}
        assert categories == set(CATEGORIES), form
    assert all(not u.spans for u in utterances if u.form == "near_miss")
    assert sum(1 for u in utterances if u.prompt) >= 50


def test_recall_and_precision_per_category_meet_the_goal() -> None:
    scores = score(Redactor(CATEGORIES), load())
    for category, result in scores.items():
        assert result.expected >= 15, category
        assert result.recall >= 0.99, (category, result.missed)
        assert result.precision >= 0.95, (category, result.wrong)


def test_the_set_scored_one_category_at_a_time_meets_the_goal_too() -> None:
    # An agent usually redacts a few categories: a finding of another category must not be
    # what kept a near miss out. (Personal data of another kind found as this one, the account
    # inside an IBAN found as a bank account, is still personal data: not counted wrong.)
    utterances = load()
    for category in CATEGORIES:
        result = score(Redactor([category]), utterances, any_category=True)[category]
        assert result.recall >= 0.99, (category, result.missed)
        assert result.precision >= 0.95, (category, result.wrong)
