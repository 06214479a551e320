"""The parser and the stream framer under random and mutated input: they return a message or
raise SipParseError, never another exception, and a parsed message writes back to itself."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aybiza.telephony.sip.framing import StreamFramer
from aybiza.telephony.sip.message import MAX_MESSAGE_BYTES, parse
from aybiza.telephony.sip.syntax import SipParseError

SEEDS = [path.read_bytes() for path in sorted((Path(__file__).parent / "torture").glob("*.dat"))]
# Bytes that matter to the grammar, so mutations hit the parser's decisions often.
SPECIAL = st.sampled_from(
    [b"\r\n", b" ", b"\t", b":", b";", b",", b'"', b"\\", b"<", b">", b"@", b"%", b"=", b"/",
     b"?", b"[", b"]", b"\x00", b"\xff", b"\r", b"\n", b"\r\n ", b"\r\n\r\n"]
)  # fmt: skip
FUZZ = settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)


@st.composite
def mutated_message(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        chunk = draw(SPECIAL | st.binary(min_size=1, max_size=8))
        if action == "insert":
            data[position:position] = chunk
        elif action == "delete":
            del data[position : position + draw(st.integers(1, 16))]
        else:
            data[position : position + len(chunk)] = chunk
    return bytes(data)


def parse_or_refuse(data: bytes) -> None:
    try:
        message = parse(data)
    except SipParseError as error:
        assert error.reason and error.status in (400, 505, 513)
        return
    assert parse(message.serialize()) == message


@FUZZ
@given(mutated_message())
def test_mutated_torture_messages_parse_or_raise_sip_parse_error(data: bytes) -> None:
    parse_or_refuse(data)


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes_parse_or_raise_sip_parse_error(data: bytes) -> None:
    parse_or_refuse(data)


@FUZZ
@given(mutated_message(), st.lists(st.integers(1, 64), min_size=1, max_size=20))
def test_stream_framer_takes_any_split_without_another_exception(
    data: bytes, cuts: list[int]
) -> None:
    framer = StreamFramer()
    stream = data + data
    position = 0
    try:
        for cut in cuts:
            for message in framer.feed(stream[position : position + cut]):
                parse_or_refuse(message)
            position += cut
        for message in framer.feed(stream[position:]):
            parse_or_refuse(message)
    except SipParseError:
        pass


def test_huge_message_is_refused_for_its_size_without_reading_it() -> None:
    huge = b"INVITE sip:a@b SIP/2.0\r\nX-Pad: " + b"a" * MAX_MESSAGE_BYTES + b"\r\n\r\n"
    try:
        parse(huge)
    except SipParseError as error:
        assert error.status == 513
    else:
        raise AssertionError("a message over the cap was parsed")


def test_megabyte_of_digits_in_cseq_is_refused_quickly_as_out_of_range() -> None:
    data = (
        b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n"
        b"From: <sip:a@b>;tag=1\r\n"
        b"To: <sip:a@b>\r\nCall-ID: c\r\nCSeq: " + b"9" * 60000 + b" OPTIONS\r\n\r\n"
    )
    try:
        parse(data)
    except SipParseError as error:
        assert "CSeq" in error.reason
    else:
        raise AssertionError("an out-of-range CSeq was accepted")


def test_too_many_header_fields_are_refused() -> None:
    data = b"OPTIONS sip:a@b SIP/2.0\r\n" + b"X-A: 1\r\n" * 300 + b"\r\n"
    try:
        parse(data)
    except SipParseError as error:
        assert "more than 256 header fields" in error.reason
    else:
        raise AssertionError("300 header fields were accepted")
