"""The browser call's control messages: what the page may send, and the errors naming what is
wrong with anything else."""

from __future__ import annotations

import json

import pytest

from aybiza.telephony.browser.wire import (
    Dtmf,
    Hangup,
    Mark,
    WireError,
    clear_message,
    parse_control,
    start_message,
    transcript_message,
)


def test_the_pages_messages_parse_to_events() -> None:
    assert parse_control('{"type": "mark", "name": "u1s0c3"}') == Mark("u1s0c3")
    assert parse_control('{"type": "dtmf", "digit": "#"}') == Dtmf("#")
    assert parse_control('{"type": "hangup"}') == Hangup()


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "a control message is a JSON object"),
        ('{"type": "media"}', "type: one of mark, dtmf, hangup expected, got 'media'"),
        ('{"type": "mark"}', "mark.name: a string of 1 to 100 characters expected"),
        ('{"type": "mark", "name": ""}', "mark.name"),
        ('{"type": "mark", "name": "' + "x" * 101 + '"}', "mark.name"),
        ('{"type": "dtmf", "digit": "12"}', "dtmf.digit: one of 0-9, *, #, A-D expected"),
        ('{"type": "dtmf", "digit": 5}', "dtmf.digit"),
    ],
)
def test_anything_else_is_refused_naming_the_field(text: str, error: str) -> None:
    with pytest.raises(WireError, match="^" + error.replace("*", r"\*")):
        parse_control(text)


def test_the_servers_messages_say_what_the_page_needs() -> None:
    assert json.loads(start_message("c1")) == {
        "type": "start",
        "call_id": "c1",
        "format": "mulaw",
        "sample_rate": 8000,
        "frame_ms": 20,
    }
    assert json.loads(clear_message()) == {"type": "clear"}
    assert json.loads(transcript_message("caller", "hi")) == {
        "type": "transcript",
        "speaker": "caller",
        "text": "hi",
    }
