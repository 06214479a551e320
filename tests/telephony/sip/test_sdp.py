"""SDP parse/serialize (RFC 4566) and offer/answer for G.711, telephone events and hold
(RFC 3264). Addresses here are only parsed and compared, never contacted."""

from __future__ import annotations

import pytest

from aybiza.telephony.sip.offer_answer import MediaParams, NotAcceptable, SdpSession
from aybiza.telephony.sip.sdp import (
    Attribute,
    Connection,
    Media,
    Origin,
    RtpMap,
    SdpError,
    SessionDescription,
    Timing,
)


def sdp(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode()


# The carrier's offer of PROTOCOLS.md §7.1.
CARRIER_OFFER = sdp(
    "v=0",
    "o=- 1600 1600 IN IP4 198.51.100.7",
    "s=-",
    "c=IN IP4 198.51.100.7",
    "t=0 0",
    "m=audio 20000 RTP/AVP 0 8 101",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-16",
    "a=ptime:20",
    "a=sendrecv",
)

# sipp's uac_pcap scenario (``sipp -sd uac_pcap``), its keywords filled in.
SIPP_PCAP_OFFER = sdp(
    "v=0",
    "o=user1 53655765 2353687637 IN IP4 127.0.0.1",
    "s=-",
    "c=IN IP4 127.0.0.1",
    "t=0 0",
    "m=audio 6000 RTP/AVP 8 101",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-11,16",
)


def offer_with(media_line: str, *attributes: str, connection: str = "127.0.0.1") -> bytes:
    return sdp(
        "v=0",
        "o=peer 1 1 IN IP4 127.0.0.1",
        "s=call",
        f"c=IN IP4 {connection}",
        "t=0 0",
        media_line,
        *attributes,
    )


def test_parses_a_carriers_offer() -> None:
    offer = SessionDescription.parse(CARRIER_OFFER)
    assert offer.origin == Origin("-", "1600", 1600, "IN", "IP4", "198.51.100.7")
    assert offer.connection == Connection("198.51.100.7")
    (audio,) = offer.media
    assert (audio.kind, audio.port, audio.proto) == ("audio", 20000, "RTP/AVP")
    assert audio.payload_types == (0, 8, 101)
    assert audio.rtpmap(101) == RtpMap(101, "telephone-event", 8000)
    assert audio.fmtp(101) == "0-16"
    assert audio.values("ptime") == ["20"]
    assert offer.direction_of(audio) == "sendrecv"


def test_static_payload_types_need_no_rtpmap() -> None:
    audio = SessionDescription.parse(offer_with("m=audio 4000 RTP/AVP 8 0")).media[0]
    assert audio.rtpmap(8) == RtpMap(8, "PCMA", 8000)
    assert audio.rtpmap(0) == RtpMap(0, "PCMU", 8000)
    assert audio.rtpmap(9) is None


def test_a_full_description_serializes_back_byte_for_byte() -> None:
    body = sdp(
        "v=0",
        "o=jdoe 2890844526 2890842807 IN IP4 127.0.0.1",
        "s=SDP Seminar",
        "i=A Seminar on the session description protocol",
        "u=http://www.example.com/seminars/sdp.pdf",
        "e=j.doe@example.com (Jane Doe)",
        "p=+1 617 555-6011",
        "c=IN IP4 127.0.0.1",
        "b=AS:64",
        "t=2873397496 2873404696",
        "r=7d 1h 0 25h",
        "z=2882844526 -1h 2898848070 0",
        "k=prompt",
        "a=recvonly",
        "m=audio 49170/2 RTP/AVP 0",
        "i=speech",
        "c=IN IP6 ::1",
        "b=AS:32",
        "a=ptime:20",
        "m=video 51372 RTP/AVP 99",
        "a=rtpmap:99 h263-1998/90000",
    )
    parsed = SessionDescription.parse(body)
    assert parsed.serialize() == body
    assert parsed.timing == (Timing(2873397496, 2873404696, ("7d 1h 0 25h",)),)
    assert parsed.media[0].port_count == 2
    assert parsed.connection_of(parsed.media[0]) == Connection("::1", "IN", "IP6")
    assert parsed.direction_of(parsed.media[1]) == "recvonly"


def test_bare_line_feeds_and_a_missing_t_line_are_accepted() -> None:
    body = b"v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nm=audio 4000 RTP/AVP 0\n"
    parsed = SessionDescription.parse(body)
    assert parsed.media[0].port == 4000
    assert parsed.timing == (Timing(),)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"o=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n", "v="),
        (b"v=0\r\ns=-\r\n", "o="),
        (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n", "s="),
        (b"v=0\r\no=- x 1\r\ns=-\r\n", "o="),
        (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nx=1\r\n", "x"),
        (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nno equals\r\n", "n"),
        (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4\r\n", "c="),
        (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=now\r\n", "t="),
        (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nr=1d\r\n", "r="),
        (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nm=audio 99999 RTP/AVP 0\r\n", "m="),
        (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nm=audio 4000 RTP/AVP\r\n", "m="),
        (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nm=audio 4000 RTP/AVP 0\r\ns=x\r\n", "s="),
        (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\ns=again\r\n", "s="),
        (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=\xff\r\n", "body"),
        (b"v=0\r\n" + b"a=x\r\n" * 5000, "body"),
    ],
)
def test_malformed_descriptions_are_refused_naming_the_line(body: bytes, field: str) -> None:
    with pytest.raises(SdpError) as refused:
        SessionDescription.parse(body)
    assert refused.value.field == field


def answer_lines(answer: SessionDescription) -> list[str]:
    return answer.serialize().decode().split("\r\n")


def test_answers_a_carriers_offer_with_pcmu_and_telephone_events() -> None:
    session = SdpSession("127.0.0.1", 30000, session_id="42")
    answer, params = session.answer(SessionDescription.parse(CARRIER_OFFER))
    lines = answer_lines(answer)
    assert "o=aybiza 42 0 IN IP4 127.0.0.1" in lines
    assert "c=IN IP4 127.0.0.1" in lines
    assert "m=audio 30000 RTP/AVP 0 101" in lines
    for line in ["a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000"]:
        assert line in lines
    assert "a=fmtp:101 0-16" in lines
    assert "a=ptime:20" in lines
    assert "a=sendrecv" in lines
    assert params == MediaParams(
        codec="PCMU",
        payload_type=0,
        telephone_event=101,
        remote_address="198.51.100.7",
        remote_port=20000,
        remote_rtcp_port=20001,
        direction="sendrecv",
    )
    assert params.sends and params.receives


def test_the_offers_first_g711_codec_wins() -> None:
    session = SdpSession("127.0.0.1", 30000)
    _, params = session.answer(SessionDescription.parse(SIPP_PCAP_OFFER))
    assert (params.codec, params.payload_type, params.telephone_event) == ("PCMA", 8, 101)
    dynamic = offer_with(
        "m=audio 4000 RTP/AVP 9 96 0", "a=rtpmap:9 G722/8000", "a=rtpmap:96 pcma/8000"
    )
    answer, params = SdpSession("127.0.0.1", 30000).answer(SessionDescription.parse(dynamic))
    assert (params.codec, params.payload_type, params.telephone_event) == ("PCMA", 96, None)
    assert "m=audio 30000 RTP/AVP 96" in answer_lines(answer)


def test_telephone_event_keeps_the_offers_payload_type_and_events() -> None:
    answer, params = SdpSession("127.0.0.1", 30000).answer(
        SessionDescription.parse(SIPP_PCAP_OFFER)
    )
    assert "a=fmtp:101 0-11,16" in answer_lines(answer)
    offer = offer_with("m=audio 4000 RTP/AVP 0 96", "a=rtpmap:96 telephone-event/8000")
    answer, params = SdpSession("127.0.0.1", 30000).answer(SessionDescription.parse(offer))
    assert params.telephone_event == 96
    assert "a=fmtp:96 0-15" in answer_lines(answer)


@pytest.mark.parametrize(
    "media_line",
    [
        "m=audio 4000 RTP/AVP 9 18",  # G.722 and G.729 only
        "m=audio 4000 RTP/SAVP 0 8",  # SRTP
        "m=audio 0 RTP/AVP 0",  # a disabled stream
        "m=video 4000 RTP/AVP 0",
    ],
)
def test_an_offer_without_a_common_codec_is_refused_with_488(media_line: str) -> None:
    with pytest.raises(NotAcceptable) as refused:
        SdpSession("127.0.0.1", 30000).answer(SessionDescription.parse(offer_with(media_line)))
    assert refused.value.status_code == 488
    assert media_line in str(refused.value)


def test_other_streams_are_refused_with_port_zero_in_place() -> None:
    body = offer_with(
        "m=video 5000 RTP/AVP 99",
        "a=rtpmap:99 H264/90000",
        "m=audio 4000 RTP/AVP 0",
        "m=audio 4002 RTP/AVP 8",
    )
    answer, params = SdpSession("127.0.0.1", 30000).answer(SessionDescription.parse(body))
    assert [(m.kind, m.port, m.formats) for m in answer.media] == [
        ("video", 0, ("99",)),
        ("audio", 30000, ("0",)),
        ("audio", 0, ("8",)),
    ]
    assert params.remote_port == 4000


def test_an_rtcp_attribute_names_the_rtcp_port() -> None:
    body = offer_with("m=audio 4000 RTP/AVP 0", "a=rtcp:4011 IN IP4 127.0.0.1")
    _, params = SdpSession("127.0.0.1", 30000).answer(SessionDescription.parse(body))
    assert params.remote_rtcp_port == 4011


@pytest.mark.parametrize(
    ("attribute", "connection", "ours", "sends", "receives"),
    [
        ("a=sendonly", "127.0.0.1", "recvonly", False, True),
        ("a=inactive", "127.0.0.1", "inactive", False, False),
        ("a=recvonly", "127.0.0.1", "sendonly", True, False),
        ("a=sendrecv", "0.0.0.0", "recvonly", False, True),  # RFC 2543 hold
    ],
)
def test_the_far_end_puts_the_call_on_hold(
    attribute: str, connection: str, ours: str, sends: bool, receives: bool
) -> None:
    body = offer_with("m=audio 4000 RTP/AVP 0", attribute, connection=connection)
    answer, params = SdpSession("127.0.0.1", 30000).answer(SessionDescription.parse(body))
    assert f"a={ours}" in answer_lines(answer)
    assert (params.direction, params.sends, params.receives) == (ours, sends, receives)
    assert params.held_by_far_end is not sends


def test_reinvites_hold_resume_and_change_codec_with_versions_per_rfc3264() -> None:
    session = SdpSession("127.0.0.1", 30000, session_id="7")
    first, _ = session.answer(SessionDescription.parse(offer_with("m=audio 4000 RTP/AVP 0 8")))
    same, _ = session.answer(SessionDescription.parse(offer_with("m=audio 4000 RTP/AVP 0 8")))
    held, hold = session.answer(
        SessionDescription.parse(offer_with("m=audio 4000 RTP/AVP 0 8", "a=sendonly"))
    )
    resumed, resume = session.answer(
        SessionDescription.parse(offer_with("m=audio 4000 RTP/AVP 0 8", "a=sendrecv"))
    )
    changed, change = session.answer(SessionDescription.parse(offer_with("m=audio 4000 RTP/AVP 8")))
    versions = [d.origin.session_version for d in (first, same, held, resumed, changed)]
    assert versions == [0, 0, 1, 2, 3]  # unchanged: same version; each change: one more
    assert {d.origin.session_id for d in (first, same, held, resumed, changed)} == {"7"}
    assert (hold.sends, resume.sends) == (False, True)
    assert change.codec == "PCMA"


def test_our_offer_and_the_far_ends_answer() -> None:
    session = SdpSession("127.0.0.1", 30000, codecs=("PCMA", "PCMU"))
    offer = session.offer()
    lines = answer_lines(offer)
    assert "m=audio 30000 RTP/AVP 8 0 101" in lines
    assert "a=fmtp:101 0-16" in lines
    answer = offer_with(
        "m=audio 5000 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000", "a=rtcp:5005"
    )
    params = session.accept_answer(SessionDescription.parse(answer))
    assert (params.codec, params.payload_type, params.telephone_event) == ("PCMU", 0, 101)
    assert (params.remote_port, params.remote_rtcp_port, params.direction) == (
        5000,
        5005,
        "sendrecv",
    )


def test_we_put_the_far_end_on_hold_with_a_sendonly_offer() -> None:
    session = SdpSession("127.0.0.1", 30000)
    session.offer()
    held = session.offer(hold=True)
    assert "a=sendonly" in answer_lines(held)
    assert held.origin.session_version == 1
    params = session.accept_answer(
        SessionDescription.parse(offer_with("m=audio 5000 RTP/AVP 0", "a=recvonly"))
    )
    assert (params.direction, params.sends, params.receives) == ("sendonly", True, False)


@pytest.mark.parametrize(
    "media_line",
    ["m=audio 0 RTP/AVP 0", "m=audio 5000 RTP/AVP 9", "m=audio 5000 RTP/AVP 18"],
)
def test_an_answer_that_refuses_or_picks_no_offered_codec_is_not_acceptable(
    media_line: str,
) -> None:
    session = SdpSession("127.0.0.1", 30000, codecs=("PCMU",))
    session.offer()
    with pytest.raises(NotAcceptable):
        session.accept_answer(SessionDescription.parse(offer_with(media_line)))


def test_host_names_are_not_resolved_and_leave_the_address_to_latching() -> None:
    body = offer_with("m=audio 4000 RTP/AVP 0", connection="media.example.net")
    _, params = SdpSession("127.0.0.1", 30000).answer(SessionDescription.parse(body))
    assert params.remote_address is None
    assert params.sends


def test_descriptions_are_dataclasses_that_build_valid_sdp() -> None:
    built = SessionDescription(
        origin=Origin("me", "1", 1, "IN", "IP4", "127.0.0.1"),
        connection=Connection.for_address("::1"),
        media=(Media("audio", 4000, "RTP/AVP", ("0",), attributes=(Attribute("sendrecv"),)),),
    )
    assert SessionDescription.parse(built.serialize()) == built
    assert b"c=IN IP6 ::1\r\n" in built.serialize()
