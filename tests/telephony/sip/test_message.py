"""SIP messages: compact forms, folding, comma lists, URIs, responses built from requests,
X- headers, serialization, and stream framing."""

from __future__ import annotations

import pytest

from aybiza.telephony.sip.framing import SipFramingError, StreamFramer
from aybiza.telephony.sip.headers import CSeq, NameAddr, Via, new_branch
from aybiza.telephony.sip.message import Request, Response, parse
from aybiza.telephony.sip.syntax import SipParseError
from aybiza.telephony.sip.uri import SipUri, parse_uri

# The INVITE of PROTOCOLS.md §7.1, as a carrier sends it, with two X- headers.
INVITE = (
    b"INVITE sip:+14155550100@sip.example.com:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-74bf9;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"From: <sip:+15558675310@carrier.example.net>;tag=9fxced76sl\r\n"
    b"To: <sip:+14155550100@sip.example.com>\r\n"
    b"Call-ID: 3848276298220188511@carrier.example.net\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: <sip:198.51.100.7:5060>\r\n"
    b"X-Customer-Id: 42\r\n"
    b"x-campaign: spring sale\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 4\r\n"
    b"\r\n"
    b"v=0\n"
)


def invite() -> Request:
    message = parse(INVITE)
    assert isinstance(message, Request)
    return message


def test_carrier_invite_is_parsed_into_typed_fields() -> None:
    message = invite()
    assert message.method == "INVITE"
    assert message.uri == SipUri("sip.example.com", "+14155550100", 5060)
    via = message.via[0]
    assert (via.transport, via.host, via.port, via.branch) == (
        "UDP",
        "198.51.100.7",
        5060,
        "z9hG4bK-74bf9",
    )
    assert via.wants_rport and via.rport is None
    assert message.from_.tag == "9fxced76sl" and message.to.tag is None
    assert message.cseq == CSeq(1, "INVITE")
    assert message.contact[0].uri == SipUri("198.51.100.7", None, 5060)
    assert message.content_type == "application/sdp" and message.body == b"v=0\n"


def test_x_headers_are_available_as_a_dict_for_the_agent() -> None:
    assert invite().x_headers == {"X-Customer-Id": "42", "x-campaign": "spring sale"}


def test_compact_forms_and_folding_read_like_long_forms() -> None:
    compact = parse(
        b"BYE sip:a@127.0.0.1 SIP/2.0\r\n"
        b"v: SIP/2.0/TCP 127.0.0.1:5070\r\n ;branch=z9hG4bKabc,"
        b" SIP/2.0/UDP 127.0.0.2;branch=z9hG4bKdef\r\n"
        b"f: <sip:b@127.0.0.1>;tag=x\r\nt: sip:a@127.0.0.1;tag=y\r\ni: cid\r\n"
        b"CSeq:\r\n\t2 BYE\r\nm: <sip:b@127.0.0.1>;expires=60\r\nk: timer, replaces\r\n"
        b"s: hello\r\nl: 0\r\n\r\n"
    )
    assert isinstance(compact, Request)
    assert [(v.transport, v.port, v.branch) for v in compact.via] == [
        ("TCP", 5070, "z9hG4bKabc"),
        ("UDP", None, "z9hG4bKdef"),
    ]
    assert compact.to.tag == "y" and compact.call_id == "cid" and compact.cseq == CSeq(2, "BYE")
    assert compact.contact[0].expires == 60
    assert compact.headers.get_list("Supported") == ["timer", "replaces"]
    assert compact.headers.get("Subject") == "hello"


def test_commas_inside_quotes_and_brackets_do_not_split_a_list() -> None:
    message = parse(
        INVITE.replace(
            b"Contact: <sip:198.51.100.7:5060>",
            b'Contact: "Doe, John" <sip:a,b@h1>;q=0.5, <sip:c@h2>',
        )
    )
    assert [c.display_name for c in message.contact] == ["Doe, John", None]
    assert [str(c.uri) for c in message.contact] == ["sip:a,b@h1", "sip:c@h2"]


def test_response_copies_the_fields_rfc_3261_8_2_6_asks_for() -> None:
    request = invite()
    request.headers.add("Timestamp", "54")
    trying = request.response(100)
    assert (trying.status, trying.reason) == (100, "Trying")
    assert trying.to.tag is None and trying.headers.get("Timestamp") == "54"
    ok = request.response(200, to_tag="as83kd9", body=b"v=0\r\n")
    assert ok.via == request.via and ok.from_ == request.from_ and ok.call_id == request.call_id
    assert ok.cseq == request.cseq and ok.to.tag == "as83kd9"
    wire = parse(ok.serialize())
    assert isinstance(wire, Response) and wire == ok
    assert b"Content-Length: 5\r\n\r\nv=0\r\n" in ok.serialize()


def test_serialized_request_reads_back_the_same() -> None:
    request = Request(
        method="OPTIONS",
        uri=SipUri("127.0.0.1", "+15005550006", 5060),
        via=[Via("UDP", "127.0.0.1", 5070, {"branch": new_branch(), "rport": None})],
        from_=NameAddr(SipUri("127.0.0.1", "aybiza"), 'AYBIZA "agent"', {"tag": "abc"}),
        to=NameAddr(SipUri("127.0.0.1", "+15005550006")),
        call_id="c1@127.0.0.1",
        cseq=CSeq(7, "OPTIONS"),
    )
    request.headers.add("X-Trace", "a;b,c")
    assert parse(request.serialize()) == request


def test_sips_and_escaped_uris_write_back_escaped() -> None:
    uri = parse_uri("sips:I%20have%20spaces@[2001:db8::1]:5061;transport=tls?Subject=hi%20there")
    assert isinstance(uri, SipUri)
    assert (uri.user, uri.host, uri.port, uri.transport) == (
        "I have spaces",
        "[2001:db8::1]",
        5061,
        "TLS",
    )
    assert uri.headers == {"Subject": "hi there"}
    assert str(uri) == "sips:I%20have%20spaces@[2001:db8::1]:5061;transport=tls?Subject=hi%20there"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("sip:a@", "not a host name"),
        ("sip:a@host:99999", "above 65535"),
        ("sip:a@[::1", "unterminated IPv6"),
        ("sip:a%zz@host", "two hex digits"),
        ("sip:a b@host", "not allowed"),
        ("no-scheme", "is not a URI"),
    ],
)
def test_malformed_uris_are_refused_naming_the_problem(text: str, words: str) -> None:
    with pytest.raises(SipParseError, match=words):
        parse_uri(text, "Request-URI")


def test_datagram_without_content_length_takes_the_rest_as_body() -> None:
    message = parse(INVITE.replace(b"Content-Length: 4\r\n", b""))
    assert message.body == b"v=0\n"


def test_stream_framer_splits_pipelined_messages_fed_byte_by_byte() -> None:
    framer = StreamFramer()
    stream = b"\r\n\r\n" + INVITE + b"\r\n" + INVITE
    framed: list[bytes] = []
    for index in range(len(stream)):
        framed.extend(framer.feed(stream[index : index + 1]))
    assert framed == [INVITE, INVITE] and framer.buffered == 0


def test_stream_framer_needs_content_length_and_closes_without_it() -> None:
    with pytest.raises(SipFramingError, match="Content-Length is required"):
        StreamFramer().feed(INVITE.replace(b"Content-Length: 4\r\n", b""))


def test_stream_framer_refuses_a_header_block_that_never_ends() -> None:
    framer = StreamFramer()
    with pytest.raises(SipFramingError, match="no end of header fields"):
        for _ in range(70):
            framer.feed(b"X-Pad: " + b"a" * 1000 + b"\r\n")


def test_stream_framer_refuses_a_body_over_the_cap_before_reading_it() -> None:
    with pytest.raises(SipFramingError) as refused:
        StreamFramer().feed(INVITE.replace(b"Content-Length: 4", b"Content-Length: 65536"))
    assert refused.value.status == 513


def test_values_from_elsewhere_cannot_inject_header_lines() -> None:
    request = invite()
    request.from_ = NameAddr(request.from_.uri, "Eve\r\nX-Injected: 1", {"tag": "t"})
    wire = parse(request.serialize())
    assert wire.from_.display_name == "Eve  X-Injected: 1" and wire.x_headers == invite().x_headers
    request.headers.add("X-Campaign", "spring\r\nBYE sip:x SIP/2.0")
    with pytest.raises(ValueError, match="CR or LF"):
        request.serialize()


def test_control_characters_in_a_display_name_are_written_as_quoted_pairs() -> None:
    request = invite()
    request.from_ = NameAddr(request.from_.uri, 'BEL:\x07 NUL:\x00 "q"', {"tag": "t"})
    assert b'From: "BEL:\\\x07 NUL:\\\x00 \\"q\\""' in request.serialize()
    assert parse(request.serialize()).from_.display_name == 'BEL:\x07 NUL:\x00 "q"'
