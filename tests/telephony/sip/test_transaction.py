"""Client and server transactions in virtual time: retransmission schedules, timeouts, ACKs,
and the matching of messages to transactions (RFC 3261 §17, RFC 6026)."""

from __future__ import annotations

from pathlib import Path

from aybiza.telephony.sip.headers import CSeq, NameAddr, Via, new_branch
from aybiza.telephony.sip.message import Message, Request, Response, parse
from aybiza.telephony.sip.server_transaction import ServerTransaction
from aybiza.telephony.sip.timers import VirtualClock
from aybiza.telephony.sip.transaction import Failure, State
from aybiza.telephony.sip.transaction_table import TransactionTable
from aybiza.telephony.sip.uri import SipUri


class Wire:
    """What a transaction sent, and when (virtual seconds)."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.sent: list[tuple[float, Message]] = []

    def __call__(self, message: Message) -> None:
        self.sent.append((self.clock.now, message))

    def times(self) -> list[float]:
        return [at for at, _ in self.sent]


def make_request(method: str, branch: str | None = None, number: int = 1) -> Request:
    return Request(
        method=method,
        uri=SipUri("127.0.0.1", "+15005550006", 5060),
        via=[Via("UDP", "127.0.0.1", 5070, {"branch": branch or new_branch()})],
        from_=NameAddr(SipUri("127.0.0.1", "caller"), None, {"tag": "from1"}),
        to=NameAddr(SipUri("127.0.0.1", "+15005550006")),
        call_id="call-1@127.0.0.1",
        cseq=CSeq(number, method),
    )


class Tu:
    """A transaction user that records what it is told."""

    def __init__(self) -> None:
        self.responses: list[Response] = []
        self.failures: list[Failure] = []
        self.server_timeouts: list[ServerTransaction] = []


def client(
    method: str, *, reliable: bool = False
) -> tuple[VirtualClock, Wire, Tu, TransactionTable, Request]:
    clock = VirtualClock()
    wire, tu = Wire(clock), Tu()
    table = TransactionTable(clock)
    request = make_request(method)
    table.send_request(
        request,
        wire,
        reliable=reliable,
        on_response=tu.responses.append,
        on_failure=tu.failures.append,
    )
    return clock, wire, tu, table, request


def test_invite_client_retransmits_on_timer_a_doubling_and_times_out_on_timer_b() -> None:
    clock, wire, tu, table, _ = client("INVITE")
    clock.advance(31.9)
    assert wire.times() == [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert tu.failures == []
    clock.advance(0.1)
    assert tu.failures == ["timeout"] and table.client_count == 0 and clock.pending == 0


def test_invite_client_over_tcp_never_retransmits_but_still_times_out() -> None:
    clock, wire, tu, _, _ = client("INVITE", reliable=True)
    clock.advance(40)
    assert wire.times() == [0.0] and tu.failures == ["timeout"]


def test_invite_client_acks_a_non_2xx_final_response_itself() -> None:
    clock, wire, tu, table, invite = client("INVITE")
    clock.advance(0.2)
    assert table.receive_response(invite.response(180, to_tag="callee"))
    clock.advance(60)
    assert len(wire.sent) == 1 and tu.failures == []  # Proceeding: no retransmit, no Timer B
    busy = invite.response(486, to_tag="callee")
    table.receive_response(busy)
    ack = wire.sent[-1][1]
    assert isinstance(ack, Request) and ack.method == "ACK"
    assert ack.via == [invite.via[0]] and ack.cseq == CSeq(1, "ACK")
    assert ack.to.tag == "callee" and ack.uri == invite.uri
    table.receive_response(busy)  # retransmitted: ACKed again, not shown to the TU
    assert [r.status for r in tu.responses] == [180, 486] and len(wire.sent) == 3
    clock.advance(32)
    assert table.client_count == 0


def test_invite_client_passes_2xx_and_its_retransmissions_to_the_tu_until_timer_m() -> None:
    clock, wire, tu, table, invite = client("INVITE")
    ok = invite.response(200, to_tag="callee")
    table.receive_response(ok)
    table.receive_response(ok)
    assert [r.status for r in tu.responses] == [200, 200]
    assert len(wire.sent) == 1  # a 2xx is ACKed by the dialog, not by the transaction
    clock.advance(32)
    assert table.client_count == 0 and not table.receive_response(ok)


def test_non_invite_client_retransmits_on_timer_e_capped_at_t2_and_times_out_on_f() -> None:
    clock, wire, tu, _, _ = client("OPTIONS")
    clock.advance(31.9)
    assert wire.times() == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    clock.advance(0.1)
    assert tu.failures == ["timeout"]


def test_non_invite_client_retransmits_every_t2_once_proceeding_and_lingers_on_k() -> None:
    clock, wire, tu, table, request = client("BYE")
    clock.advance(0.1)
    table.receive_response(request.response(100))
    clock.advance(10)
    # Timer E runs out its current interval, then fires every T2 (RFC 3261 §17.1.2.2).
    assert wire.times() == [0.0, 0.5, 4.5, 8.5]
    table.receive_response(request.response(200))
    transaction_count = table.client_count
    clock.advance(4.9)
    assert transaction_count == 1 and table.client_count == 1  # Timer K = T4 absorbs strays
    clock.advance(0.1)
    assert table.client_count == 0 and [r.status for r in tu.responses] == [100, 200]


def server(
    request: Request, *, reliable: bool = False
) -> tuple[VirtualClock, Wire, Tu, TransactionTable, ServerTransaction]:
    clock = VirtualClock()
    wire, tu = Wire(clock), Tu()
    table = TransactionTable(clock, on_server_timeout=tu.server_timeouts.append)
    incoming = table.receive_request(request, wire, reliable=reliable)
    assert incoming is not None and incoming.transaction is not None
    return clock, wire, tu, table, incoming.transaction


def statuses(wire: Wire) -> list[int]:
    return [m.status for _, m in wire.sent if isinstance(m, Response)]


def test_invite_server_answers_100_trying_at_once_and_again_for_a_retransmission() -> None:
    invite = make_request("INVITE")
    _, wire, _, table, _ = server(invite)
    assert statuses(wire) == [100] and wire.sent[0][1].to.tag is None
    assert table.receive_request(invite, wire, reliable=False) is None
    assert statuses(wire) == [100, 100]


def test_invite_server_retransmits_a_final_error_on_timer_g_until_the_ack() -> None:
    invite = make_request("INVITE")
    clock, wire, tu, table, transaction = server(invite)
    transaction.respond(invite.response(486, to_tag="us"))
    clock.advance(10)
    assert wire.times() == [0.0, 0.0, 0.5, 1.5, 3.5, 7.5]
    ack = Request(
        method="ACK",
        uri=invite.uri,
        via=[invite.via[0]],
        from_=invite.from_,
        to=invite.to.with_tag("us"),
        call_id=invite.call_id,
        cseq=CSeq(1, "ACK"),
    )
    assert table.receive_request(ack, wire, reliable=False) is None
    confirmed = transaction.state
    clock.advance(5)
    assert confirmed is State.CONFIRMED
    assert transaction.state is State.TERMINATED and table.server_count == 0
    assert len(wire.sent) == 6 and tu.server_timeouts == []


def test_invite_server_gives_up_on_timer_h_when_no_ack_comes() -> None:
    invite = make_request("INVITE")
    clock, _, tu, table, transaction = server(invite, reliable=True)
    transaction.respond(invite.response(603, to_tag="us"))
    clock.advance(32)
    assert tu.server_timeouts == [transaction] and table.server_count == 0


def test_invite_server_retransmits_2xx_until_the_dialog_ack_arrives() -> None:
    invite = make_request("INVITE")
    clock, wire, tu, table, transaction = server(invite)
    transaction.respond(invite.response(200, to_tag="us"))
    clock.advance(2)
    assert statuses(wire) == [100, 200, 200, 200]
    ack = make_request("ACK")  # its own branch, like every ACK for a 2xx
    ack.to = invite.to.with_tag("us")
    incoming = table.receive_request(ack, wire, reliable=False)
    assert incoming is not None and incoming.transaction is None
    assert incoming.acknowledges is transaction
    clock.advance(40)
    assert statuses(wire) == [100, 200, 200, 200]
    assert tu.server_timeouts == [] and table.server_count == 0


def test_invite_server_reports_a_2xx_never_acknowledged() -> None:
    invite = make_request("INVITE")
    clock, wire, tu, _, transaction = server(invite)
    transaction.respond(invite.response(200, to_tag="us"))
    clock.advance(32)
    assert tu.server_timeouts == [transaction]
    assert [round(t, 1) for t in wire.times()] == [0.0, 0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5,
                                                   19.5, 23.5, 27.5, 31.5]  # fmt: skip


def test_non_invite_server_resends_its_response_for_retransmissions_until_timer_j() -> None:
    bye = make_request("BYE", number=2)
    clock, wire, _, table, transaction = server(bye)
    assert table.receive_request(bye, wire, reliable=False) is None
    assert wire.sent == []  # Trying: absorbed silently
    transaction.respond(bye.response(200))
    assert table.receive_request(bye, wire, reliable=False) is None
    assert statuses(wire) == [200, 200]
    clock.advance(31.9)
    assert table.server_count == 1
    clock.advance(0.1)
    assert table.server_count == 0


def test_non_invite_server_over_tcp_ends_with_its_final_response() -> None:
    bye = make_request("BYE", number=2)
    _, _, _, table, transaction = server(bye, reliable=True)
    transaction.respond(bye.response(200))
    assert table.server_count == 0


def test_cancel_is_its_own_transaction_paired_with_the_invite_it_cancels() -> None:
    invite = make_request("INVITE")
    _, wire, _, table, invite_transaction = server(invite)
    cancel = make_request("CANCEL", branch=invite.via[0].branch)
    cancel.cseq = CSeq(1, "CANCEL")
    incoming = table.receive_request(cancel, wire, reliable=False)
    assert incoming is not None and incoming.cancels is invite_transaction
    assert incoming.transaction is not None and incoming.transaction is not invite_transaction
    other = make_request("CANCEL")
    unmatched = table.receive_request(other, wire, reliable=False)
    assert unmatched is not None and unmatched.cancels is None


def test_same_branch_from_another_sent_by_is_another_transaction() -> None:
    invite = make_request("INVITE")
    _, wire, _, table, _ = server(invite)
    elsewhere = make_request("INVITE", branch=invite.via[0].branch)
    elsewhere.via = [Via("UDP", "127.0.0.2", 5070, dict(invite.via[0].params))]
    assert table.receive_request(elsewhere, wire, reliable=False) is not None
    assert table.server_count == 2


def test_response_matches_by_branch_and_cseq_method() -> None:
    _, _, tu, table, invite = client("INVITE")
    cancel_ok = invite.response(200)
    cancel_ok.cseq = CSeq(1, "CANCEL")
    assert not table.receive_response(cancel_ok)  # the CANCEL's 200 is not the INVITE's
    other = invite.response(200)
    other.via = [Via("UDP", "127.0.0.1", 5070, {"branch": new_branch()})]
    assert not table.receive_response(other)
    assert tu.responses == []


def test_rfc_2543_request_without_branch_matches_its_retransmission() -> None:
    torture = Path(__file__).parent / "torture"
    for name in ("inv2543", "badbranch"):
        request = parse((torture / f"{name}.dat").read_bytes())
        assert isinstance(request, Request)
        _, wire, _, table, _ = server(request)
        assert table.receive_request(request, wire, reliable=False) is None
