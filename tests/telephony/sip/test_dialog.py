"""Dialogs (RFC 3261 §12): created on either side from INVITE and response, requests built
inside them (BYE, re-INVITE, REFER, INFO, ACK for 2xx), and the peer's requests checked."""

from __future__ import annotations

import pytest

from aybiza.telephony.sip.dialog import Dialog, DialogError, DialogState
from aybiza.telephony.sip.headers import CSeq, NameAddr, Via, new_branch
from aybiza.telephony.sip.message import Request, Response
from aybiza.telephony.sip.uri import SipUri


def via() -> Via:
    return Via("UDP", "127.0.0.1", 5060, {"branch": new_branch()})


def proxy(host: str, loose: bool = True) -> NameAddr:
    return NameAddr(SipUri(host, params={"lr": None} if loose else {}))


def carrier_invite() -> Request:
    return Request(
        method="INVITE",
        uri=SipUri("127.0.0.1", "+14155550100", 5060),
        via=[Via("UDP", "127.0.0.2", 5060, {"branch": new_branch()})],
        from_=NameAddr(SipUri("127.0.0.2", "+15558675310"), None, {"tag": "caller-tag"}),
        to=NameAddr(SipUri("127.0.0.1", "+14155550100")),
        call_id="call-7@127.0.0.2",
        cseq=CSeq(101, "INVITE"),
        contact=[NameAddr(SipUri("127.0.0.2", "gw", 5062))],
        record_route=[proxy("127.0.0.3"), proxy("127.0.0.4")],
    )


def answered(invite: Request) -> Response:
    ok = invite.response(200, to_tag="our-tag")
    ok.contact = [NameAddr(SipUri("127.0.0.1", "aybiza", 5060))]
    return ok


def test_callee_dialog_takes_route_set_target_and_tags_from_the_invite() -> None:
    invite = carrier_invite()
    dialog = Dialog.as_uas(invite, answered(invite))
    assert dialog.id == ("call-7@127.0.0.2", "our-tag", "caller-tag")
    assert dialog.route_set == invite.record_route
    assert dialog.remote_target == SipUri("127.0.0.2", "gw", 5062)
    assert dialog.remote_cseq == 101 and dialog.state is DialogState.CONFIRMED


def test_bye_from_the_callee_goes_to_the_remote_target_through_the_route_set() -> None:
    invite = carrier_invite()
    dialog = Dialog.as_uas(invite, answered(invite))
    bye = dialog.bye(via(), reason='Q.850;cause=16;text="Normal call clearing"')
    assert bye.uri == SipUri("127.0.0.2", "gw", 5062) and bye.route == invite.record_route
    assert bye.from_.tag == "our-tag" and bye.to.tag == "caller-tag"
    assert bye.from_.uri == invite.to.uri and bye.to.uri == invite.from_.uri
    assert bye.cseq == CSeq(1, "BYE") and bye.call_id == invite.call_id
    assert bye.headers.get("Reason") == 'Q.850;cause=16;text="Normal call clearing"'
    assert dialog.state is DialogState.TERMINATED
    with pytest.raises(DialogError):
        dialog.create_request("INFO", via())


def test_caller_dialog_reverses_record_route_and_acks_the_2xx_in_its_own_transaction() -> None:
    invite = carrier_invite()
    ok = answered(invite)
    dialog = Dialog.as_uac(invite, ok)
    assert dialog.route_set == [proxy("127.0.0.4"), proxy("127.0.0.3")]
    assert dialog.remote_target == SipUri("127.0.0.1", "aybiza", 5060)
    ack_via = via()
    ack = dialog.ack(invite.cseq.number, ack_via)
    assert ack.cseq == CSeq(101, "ACK") and ack.via == [ack_via]
    assert ack.via[0].branch != invite.via[0].branch
    assert ack.to.tag == "our-tag" and ack.from_.tag == "caller-tag" and ack.contact == []
    assert dialog.create_request("BYE", via()).cseq == CSeq(102, "BYE")


def test_strict_router_goes_in_the_request_uri_and_the_target_last_in_route() -> None:
    invite = carrier_invite()
    invite.record_route = [proxy("127.0.0.9", loose=False), proxy("127.0.0.8")]
    dialog = Dialog.as_uas(invite, answered(invite))
    bye = dialog.bye(via())
    assert bye.uri == SipUri("127.0.0.9")
    assert bye.route == [proxy("127.0.0.8"), NameAddr(SipUri("127.0.0.2", "gw", 5062))]


def test_reinvite_refer_and_info_are_built_with_rising_cseq() -> None:
    invite = carrier_invite()
    dialog = Dialog.as_uas(invite, answered(invite))
    hold = dialog.reinvite(via(), b"v=0\r\na=sendonly\r\n")
    assert hold.cseq == CSeq(1, "INVITE") and hold.content_type == "application/sdp"
    assert hold.contact == [dialog.local_target] and hold.body.endswith(b"a=sendonly\r\n")
    refer = dialog.refer(
        via(), SipUri("127.0.0.5", "+15551230000"), referred_by=dialog.local_target
    )
    assert refer.cseq == CSeq(2, "REFER")
    assert refer.headers.get("Refer-To") == "<sip:+15551230000@127.0.0.5>"
    assert refer.headers.get("Referred-By") == "<sip:aybiza@127.0.0.1:5060>"
    info = dialog.info(via(), b"Signal=5\r\nDuration=160\r\n", "application/dtmf-relay")
    assert info.cseq == CSeq(3, "INFO") and info.content_type == "application/dtmf-relay"


def test_peer_requests_must_match_and_rise_in_cseq() -> None:
    invite = carrier_invite()
    dialog = Dialog.as_uas(invite, answered(invite))
    peer = Dialog.as_uac(invite, answered(invite))
    info = peer.info(via(), b"x", "application/dtmf-relay")
    assert dialog.receive_request(info) is None and dialog.remote_cseq == 102
    assert dialog.receive_request(info) == 500  # replayed CSeq is out of order
    stranger = peer.info(via(), b"x", "application/dtmf-relay")
    stranger.from_ = stranger.from_.with_tag("someone-else")
    assert dialog.receive_request(stranger) == 481


def test_reinvite_from_the_peer_refreshes_the_remote_target() -> None:
    invite = carrier_invite()
    dialog = Dialog.as_uas(invite, answered(invite))
    peer = Dialog.as_uac(invite, answered(invite))
    peer.local_target = NameAddr(SipUri("127.0.0.6", "gw2", 5070))
    refresh = peer.reinvite(via(), b"v=0\r\n")
    assert dialog.receive_request(refresh) is None
    assert dialog.remote_target == SipUri("127.0.0.6", "gw2", 5070)


def test_2xx_to_our_reinvite_refreshes_the_target_and_481_ends_the_dialog() -> None:
    invite = carrier_invite()
    dialog = Dialog.as_uas(invite, answered(invite))
    reinvite = dialog.reinvite(via(), b"v=0\r\n")
    ok = reinvite.response(200)
    ok.contact = [NameAddr(SipUri("127.0.0.7", "moved"))]
    dialog.receive_response(reinvite, ok)
    assert dialog.remote_target == SipUri("127.0.0.7", "moved")
    info = dialog.info(via(), b"x", "application/dtmf-relay")
    dialog.receive_response(info, info.response(481))
    assert dialog.state is DialogState.TERMINATED


def test_a_response_without_to_tag_or_contact_makes_no_dialog() -> None:
    invite = carrier_invite()
    untagged = invite.response(200)
    untagged.contact = [NameAddr(SipUri("127.0.0.1"))]
    with pytest.raises(DialogError, match="To tag"):
        Dialog.as_uac(invite, untagged)
    early = Dialog.as_uas(invite, invite.response(180, to_tag="t"))
    assert early.state is DialogState.EARLY
