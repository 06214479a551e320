"""How close what the agent said is to what a scenario expects, without a model: the share of
the expected text's keywords found in the agent's line.

Transparent on purpose: a report can say which words were missing, and the same lines give the
same score on every machine. Keywords are the words left after dropping English function words,
each cut to a rough stem (``booked``, ``booking`` -> ``book``), so inflections still match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)
# English function words; negations ("not", "no") and "yes" stay keywords: they carry meaning.
_FUNCTION_WORDS = (
    "a an the and or but if then so of to in on at by for with from as is are was were be "
    "been being am do does did have has had i you he she it we they me him her us them my "
    "your his its our their this that these those there here what which who whom whose "
    "when where why how can could will would shall should may might must just also too "
    "very please let let's up out about into over than only any some all each more most "
    "such own same again once further while both few other nor s t i'm you're it's that's"
)
_STOPWORDS = frozenset(_FUNCTION_WORDS.split())
_SUFFIXES = ("ing", "ed", "es", "s")


@dataclass(frozen=True, slots=True)
class Match:
    """``score`` in 0..1: the share of ``expected`` keywords the line had; ``missing`` lists
    the ones it lacked (stems, in the expected text's order)."""

    score: float
    missing: tuple[str, ...]


def words(text: str) -> list[str]:
    """The text's words, lower case, punctuation dropped."""
    return [w.lower() for w in _WORD.findall(text)]


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def keywords(text: str) -> list[str]:
    """The stems of the text's content words, in order, each once; all its words' stems when
    every word is a function word (``"yes"`` still has to be said)."""
    every = words(text)
    content = [w for w in every if w not in _STOPWORDS] or every
    return list(dict.fromkeys(_stem(w) for w in content))


def keyword_overlap(expected: str, said: str) -> Match:
    """How much of ``expected`` the line ``said`` contains (see the module docstring)."""
    wanted = keywords(expected)
    if not wanted:
        return Match(1.0, ())
    have = {_stem(w) for w in words(said)}
    missing = tuple(w for w in wanted if w not in have)
    return Match(round(1 - len(missing) / len(wanted), 3), missing)


def contains_phrase(said: str, phrase: str) -> bool:
    """Whether ``phrase`` occurs in ``said`` as whole words, in any case and punctuation."""
    line, wanted = words(said), words(phrase)
    if not wanted:
        return False
    return any(line[i : i + len(wanted)] == wanted for i in range(len(line) - len(wanted) + 1))
