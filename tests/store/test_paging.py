"""Cursors: what the API hands out reads back; anything else is a CursorError, never a crash."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aybiza.store.paging import CursorError, decode_cursor, encode_cursor


@given(
    st.datetimes(timezones=st.just(UTC), min_value=datetime(1970, 1, 1)),
    st.text(alphabet="0123456789abcdef", min_size=32, max_size=32),
)
def test_a_cursor_reads_back_as_the_row_it_was_made_from(at: datetime, row_id: str) -> None:
    assert decode_cursor(encode_cursor(at, row_id)) == (at, row_id)


@given(st.text(max_size=200))
def test_anything_else_is_refused_as_a_cursor(text: str) -> None:
    try:
        at, row_id = decode_cursor(text)
    except CursorError:
        return
    assert at.tzinfo is not None and row_id.isalnum()


def test_naive_timestamps_and_odd_ids_are_refused() -> None:
    import base64

    for raw in (b"2026-01-01T00:00:00|abc", b"2026-01-01T00:00:00+00:00|a/b", b"nothing"):
        with pytest.raises(CursorError):
            decode_cursor(base64.urlsafe_b64encode(raw).decode())
