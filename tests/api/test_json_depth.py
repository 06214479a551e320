"""``JsonDepth`` measures nesting exactly however the text is cut into chunks, and strings
(brackets, quotes and backslashes inside them) never count."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from aybiza.api.json_depth import JsonDepth

_tricky_text = st.text(alphabet='ab[]{}"\\\n é', max_size=12)
_values = st.recursive(
    st.one_of(st.none(), st.integers(), _tricky_text),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(_tricky_text, children, max_size=3)
    ),
    max_leaves=25,
)


def _depth(value: Any) -> int:
    if isinstance(value, list | dict):
        inner = value.values() if isinstance(value, dict) else value
        return 1 + max((_depth(item) for item in inner), default=0)
    return 0


def _measure(text: bytes, cuts: list[int], max_depth: int) -> JsonDepth:
    measured = JsonDepth(max_depth)
    start = 0
    for cut in [*sorted(set(cuts)), len(text)]:
        measured.feed(text[start:cut])
        start = cut
    return measured


@settings(max_examples=300, deadline=None)
@given(_values, st.lists(st.integers(min_value=0), max_size=8), st.booleans())
def test_depth_is_exact_whatever_the_chunks(value: Any, cuts: list[int], ascii_: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_).encode()
    cuts = [cut % (len(text) + 1) for cut in cuts]
    real = _depth(value)
    at_limit = _measure(text, cuts, real)
    assert at_limit.deepest == real and not at_limit.too_deep
    if real > 0:
        assert _measure(text, cuts, real - 1).too_deep


def test_a_long_unfinished_string_of_escaped_quotes_costs_one_pass() -> None:
    """Chunks inside a string full of escaped quotes (a naive scan is quadratic here)."""
    text = b'["' + b'a\\"' * 300_000 + b'",[[1]]]'
    measured = JsonDepth(64)
    for start in range(0, len(text), 65_536):
        measured.feed(text[start : start + 65_536])
    assert measured.deepest == 3 and measured.depth == 0


def test_a_backslash_at_the_end_of_a_chunk_escapes_the_next_ones_first_byte() -> None:
    measured = JsonDepth(2)
    for chunk in (b'["\\', b'"[[[', b'"]'):
        measured.feed(chunk)
    assert measured.deepest == 1 and measured.depth == 0
