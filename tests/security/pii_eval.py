"""The labelled set of caller utterances (``tests/data/pii_utterances.jsonl``) and how a
redactor is scored on it, per category.

Each line is one utterance: ``text``, the agent's line it answers (``prompt``, optional),
``form`` (``written``, ``spoken`` or ``near_miss``: nothing in it may be redacted) and the
expected ``spans`` (``start``, ``end``, ``category``, ``value`` = ``text[start:end]``).

- recall: an expected span counts as found when every letter and digit of it lies inside
  findings of its category (a redaction that leaves part of a card number visible has missed);
- precision: a finding counts as right when it overlaps an expected span of its category.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from aybiza.security.pii import CATEGORIES, Category, Finding, Redactor

LABELLED_SET = Path(__file__).resolve().parents[1] / "data" / "pii_utterances.jsonl"


@dataclass(frozen=True, slots=True)
class Expected:
    start: int
    end: int
    category: Category


@dataclass(frozen=True, slots=True)
class Utterance:
    text: str
    prompt: str
    form: str
    spans: tuple[Expected, ...]


@dataclass(slots=True)
class Score:
    """One category's counts over the set."""

    expected: int = 0
    found: int = 0
    predicted: int = 0
    right: int = 0
    missed: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.found / self.expected if self.expected else 1.0

    @property
    def precision(self) -> float:
        return self.right / self.predicted if self.predicted else 1.0


def load(path: Path = LABELLED_SET) -> list[Utterance]:
    """The set, each span checked against its text."""
    utterances = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        row = json.loads(line)
        spans = []
        for span in row["spans"]:
            start, end = span["start"], span["end"]
            if row["text"][start:end] != span["value"] or span["category"] not in CATEGORIES:
                raise ValueError(f"{path.name} line {number}: span {span} does not fit its text")
            spans.append(Expected(start, end, span["category"]))
        utterances.append(Utterance(row["text"], row.get("prompt", ""), row["form"], tuple(spans)))
    return utterances


def score(
    redactor: Redactor, utterances: list[Utterance], *, any_category: bool = False
) -> dict[Category, Score]:
    """Recall and precision per category of ``redactor`` over ``utterances``; with
    ``any_category`` a finding over personal data of another category counts as right (a
    redactor of bank accounts alone that hides the account inside an IBAN hides personal
    data, not a near miss)."""
    scores: dict[Category, Score] = {category: Score() for category in CATEGORIES}
    for utterance in utterances:
        findings = redactor.find(utterance.text, utterance.prompt)
        for span in utterance.spans:
            result = scores[span.category]
            result.expected += 1
            if _covered(utterance.text, span, findings):
                result.found += 1
            else:
                result.missed.append(f"{utterance.text!r} [{span.start}:{span.end}]")
        for finding in findings:
            result = scores[finding.category]
            result.predicted += 1
            if any(
                (any_category or span.category == finding.category)
                and finding.start < span.end
                and span.start < finding.end
                for span in utterance.spans
            ):
                result.right += 1
            else:
                shown = utterance.text[finding.start : finding.end]
                result.wrong.append(f"{utterance.text!r}: {shown!r}")
    return scores


def _covered(text: str, span: Expected, findings: list[Finding]) -> bool:
    inside = [f for f in findings if f.category == span.category]
    return all(
        any(f.start <= index < f.end for f in inside)
        for index in range(span.start, span.end)
        if text[index].isalnum()
    )
