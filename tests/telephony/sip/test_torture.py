"""RFC 4475's torture messages (files under torture/, the RFC's bytes): each is accepted or
refused as the RFC says, with the status and reason a UAS would answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from aybiza.telephony.sip.headers import Via
from aybiza.telephony.sip.inspection import UasCapabilities, inspect_request
from aybiza.telephony.sip.message import Request, Response, parse
from aybiza.telephony.sip.syntax import SipParseError
from aybiza.telephony.sip.transport import response_is_ours
from aybiza.telephony.sip.uri import AbsoluteUri, SipUri, TelUri

TORTURE = Path(__file__).parent / "torture"
UAS = UasCapabilities()


def load(name: str) -> bytes:
    return (TORTURE / f"{name}.dat").read_bytes()


def request(name: str) -> Request:
    message = parse(load(name))
    assert isinstance(message, Request)
    return message


# RFC 4475 §3.1.2, §3.3.1, §3.3.8, §3.3.9: refused by the parser, with the status a UAS answers
# and the words its reason must carry. Responses (scalarlg, bigcode) are dropped instead.
REFUSED = {
    "badinv01": (400, "Via: empty element"),
    "clerr": (400, "Content-Length 9999 is more than"),
    "ncl": (400, "Content-Length: expected a non-negative integer"),
    "scalar02": (400, "CSeq"),
    "scalarlg": (400, "CSeq"),
    "quotbal": (400, "To: unterminated quoted string"),
    "ltgtruri": (400, "Request-URI"),
    "lwsruri": (400, "request line"),
    "lwsstart": (400, "request line"),
    "trws": (400, "request line"),
    "escruri": (400, "Request-URI: a SIP Request-URI must not carry headers"),
    "regbadct": (400, "Contact: a URI with headers must be enclosed in <>"),
    "badaspec": (400, "To: spaces inside <"),
    "baddn": (400, "display name that is not tokens must be quoted"),
    "badvers": (505, "SIP version 'SIP/7.0' is not supported"),
    "mismatch01": (400, "CSeq method 'INVITE' does not match the method 'OPTIONS'"),
    "mismatch02": (400, "CSeq method 'INVITE' does not match the method 'NEWMETHOD'"),
    "bigcode": (400, "is not a status code 100-699"),
    "insuf": (400, "missing"),
    "multi01": (400, "more than one value"),
    "mcl01": (400, "Content-Length: more than one value"),
}

# Well-formed requests and what this UAS (INVITE/OPTIONS/BYE..., no registrar) answers:
# None means it processes the request.
ACCEPTED_REQUESTS = {
    "wsinv": None,
    "intmeth": 501,  # unknown method (§3.1.1.2)
    "esc01": None,
    "escnull": 405,  # REGISTER to a UA that is not a registrar
    "esc02": 501,  # RE%47IST%45R is not REGISTER (§3.1.1.5)
    "lwsdisp": None,
    "longreq": None,
    "dblreq": 405,
    "semiuri": None,
    "transports": None,
    "mpart01": 405,  # MESSAGE is known but not taken here
    "baddate": None,  # the Date field is not used, so not refused (§3.1.2.11)
    "badbranch": None,
    "unkscm": 416,
    "novelsc": 416,
    "unksm2": 405,
    "bext01": 420,
    "invut": 415,
    "regaut01": 405,
    "zeromf": None,  # a UA processes Max-Forwards: 0 (§3.3.11)
    "cparam01": 405,
    "cparam02": 405,
    "regescrt": 405,
    "sdp01": 406,
    "inv2543": None,
}
ACCEPTED_RESPONSES = ("unreason", "noreason", "bcast")


def test_item1_torture_messages_are_accepted_or_refused_with_the_right_4xx_never_a_crash() -> None:
    names = {path.stem for path in TORTURE.glob("*.dat")}
    assert len(names) == 49
    assert names == set(REFUSED) | set(ACCEPTED_REQUESTS) | set(ACCEPTED_RESPONSES)
    for name in sorted(names):
        try:
            message = parse(load(name))
        except SipParseError as error:
            assert (error.status, name) == (REFUSED[name][0], name)
            continue
        assert name not in REFUSED
        if isinstance(message, Request):
            refusal = inspect_request(message, UAS)
            assert (refusal.status if refusal else None) == ACCEPTED_REQUESTS[name], name


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_malformed_torture_message_is_refused_with_the_reason_a_400_carries(name: str) -> None:
    status, words = REFUSED[name]
    with pytest.raises(SipParseError) as refused:
        parse(load(name))
    assert refused.value.status == status
    assert words in refused.value.reason
    assert "\r" not in refused.value.reason_phrase and "\n" not in refused.value.reason_phrase


@pytest.mark.parametrize("name", sorted(ACCEPTED_REQUESTS))
def test_well_formed_torture_request_is_accepted_and_answered_as_the_rfc_says(name: str) -> None:
    message = request(name)
    refusal = inspect_request(message, UAS)
    assert (refusal.status if refusal else None) == ACCEPTED_REQUESTS[name]
    # What a parser accepts it can write back, and the copy reads the same.
    assert parse(message.serialize()) == message


@pytest.mark.parametrize("name", ACCEPTED_RESPONSES)
def test_well_formed_torture_response_is_accepted(name: str) -> None:
    message = parse(load(name))
    assert isinstance(message, Response)
    assert parse(message.serialize()) == message


def test_wsinv_short_tortuous_invite_reads_every_field() -> None:
    invite = request("wsinv")
    assert invite.method == "INVITE"
    assert isinstance(invite.uri, SipUri)
    assert invite.uri.user == "vivekg" and invite.uri.params == {"unknownparam": None}
    assert invite.to.tag == "1918181833n" and invite.to.display_name is None
    assert invite.from_.display_name == 'J Rosenberg \\"' and invite.from_.tag == "98asjd8"
    assert invite.max_forwards == 68
    assert (invite.cseq.number, invite.cseq.method) == (9, "INVITE")
    assert [(v.transport, v.host, v.branch) for v in invite.via] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert invite.headers.get("Subject") == ""
    assert invite.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert invite.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    (contact,) = invite.contact
    assert contact.display_name == 'Quoted string ""'
    assert contact.params == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}
    (route,) = invite.route
    assert isinstance(route.uri, SipUri) and route.uri.loose_routing
    assert len(invite.body) == 150


def test_intmeth_wide_range_of_valid_characters() -> None:
    message = request("intmeth")
    assert message.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert isinstance(message.uri, SipUri)
    assert message.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert message.uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert message.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert message.from_.display_name == "token1~` token2'+_ token3*%!.-"
    assert message.from_.tag == "_token~1'+`*%!-."
    assert message.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert message.via[0].branch == "z9hG4bK-.!%66*_+`'~"


def test_escaped_uri_parts_are_decoded_once() -> None:
    esc01 = request("esc01")
    assert isinstance(esc01.uri, SipUri) and esc01.uri.user == "sips:user@example.com"
    assert isinstance(esc01.to.uri, SipUri) and esc01.to.uri.user == "user"
    contact = esc01.contact[0].uri
    assert isinstance(contact, SipUri)
    assert contact.user == "caller" and contact.params == {"lr": None, "name": "value%41"}
    escnull = request("escnull")
    assert [c.uri.user for c in escnull.contact if isinstance(c.uri, SipUri)] == [
        "\x00",
        "\x00\x00",
    ]
    semiuri = request("semiuri")
    assert isinstance(semiuri.uri, SipUri) and semiuri.uri.user == "user;par=u@example.net"


def test_esc02_percent_is_no_escape_outside_uris() -> None:
    message = request("esc02")
    assert message.method == "RE%47IST%45R"
    assert message.to.display_name == "%Z%45"
    assert len(message.contact) == 2
    assert message.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"


def test_dblreq_extra_octets_after_the_body_are_ignored() -> None:
    message = request("dblreq")
    assert message.method == "REGISTER" and message.body == b""


def test_contact_parameters_and_uri_parameters_are_told_apart() -> None:
    header_param = request("cparam01").contact[0]
    assert header_param.params == {"unknownparam": None}
    assert isinstance(header_param.uri, SipUri) and header_param.uri.params == {}
    uri_param = request("cparam02").contact[0]
    assert uri_param.params == {}
    assert isinstance(uri_param.uri, SipUri) and uri_param.uri.params == {"unknownparam": None}
    escaped = request("regescrt").contact[0].uri
    assert isinstance(escaped, SipUri) and escaped.headers == {"Route": "<sip:sip.example.com>"}


def test_unknown_schemes_are_parsed_whole() -> None:
    assert request("unkscm").uri == AbsoluteUri("nobodyknowsthisscheme", "totallyopaquecontent")
    assert request("novelsc").uri == AbsoluteUri("soap.beep", "//192.0.2.103:3002")
    unksm2 = request("unksm2")
    assert unksm2.to.uri == AbsoluteUri("isbn", "2983792873")
    assert unksm2.from_.uri == AbsoluteUri("http", "//www.example.com")
    assert unksm2.contact[0].uri == AbsoluteUri("name", "John_Smith")


def test_bext01_lists_the_unsupported_extensions() -> None:
    refusal = inspect_request(request("bext01"), UAS)
    assert refusal is not None
    assert dict(refusal.headers) == {
        "Unsupported": "nothingSupportsThis, nothingSupportsThisEither"
    }


def test_transports_accepts_every_via_transport() -> None:
    assert [via.transport for via in request("transports").via] == [
        "UDP",
        "SCTP",
        "TLS",
        "UNKNOWN",
        "TCP",
    ]


def test_mpart01_binary_body_is_framed_by_content_length() -> None:
    message = request("mpart01")
    assert b"\x00" in message.body and len(message.body) == 553


def test_reason_phrases_may_be_utf8_or_empty() -> None:
    unreason = parse(load("unreason"))
    assert isinstance(unreason, Response) and unreason.reason.startswith("= 2**3 * 5**2 ")
    noreason = parse(load("noreason"))
    assert isinstance(noreason, Response) and (noreason.status, noreason.reason) == (100, "")


def test_inv2543_rfc_2543_invite_is_accepted() -> None:
    message = request("inv2543")
    assert message.max_forwards is None and message.via[0].branch is None
    assert message.from_.tag is None
    # In addr-spec form ";user=phone" belongs to the header, not the URI (RFC 3261 §20.10).
    assert message.to.params == {"user": "phone"}


def test_bcast_response_is_discarded_by_an_endpoint_it_was_not_sent_by() -> None:
    response = parse(load("bcast"))
    assert isinstance(response, Response)
    assert not response_is_ours(response, Via("UDP", "127.0.0.1", 5060))


def test_tel_uri_is_parsed() -> None:
    uri = parse(
        b"OPTIONS tel:+1-201-555-0123;phone-context=example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\n"
        b"To: <tel:+12015550123>\r\nCall-ID: t\r\nCSeq: 1 OPTIONS\r\n\r\n"
    )
    assert isinstance(uri, Request)
    assert uri.uri == TelUri("+1-201-555-0123", {"phone-context": "example.com"})
