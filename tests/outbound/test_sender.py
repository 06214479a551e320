"""Item 1 (SSRF) of the hardening issue end to end, and the sender's other duties, against a
receiver on loopback only: every sender here opens sockets through ``LoopbackOnlyNetwork``, so
no code path can reach anything but 127.0.0.0/8 and ::1, even if the guard broke."""

from __future__ import annotations

import random
from typing import Any

import pytest
from tests.automation.receiver import Answer, Receiver
from tests.fakes.loopback import (
    LoopbackOnlyNetwork,
    NonLoopbackConnect,
    StubResolver,
    loopback_sender,
)

from aybiza.outbound.connector import PinnedConnector
from aybiza.outbound.guard import Guard, Refused
from aybiza.outbound.sender import (
    OutboundError,
    OutboundRequest,
    Retries,
    Sender,
    json_body,
)

NAME = "hooks.example.test"


def _post(url: str, **fields: Any) -> OutboundRequest:
    return OutboundRequest(method="POST", url=url, body=json_body({"n": 1}), **fields)


async def test_item1_with_the_loopback_allow_list_off_nothing_reaches_a_loopback_server(
    receiver: Receiver,
) -> None:
    sender, network = loopback_sender(allow=())
    try:
        with pytest.raises(OutboundError) as refused:
            await sender.send(_post(receiver.url("/hook")), timeout_s=2)
    finally:
        await sender.aclose()
    assert refused.value.kind == "refused"
    assert "127.0.0.1 is a loopback address" in refused.value.message
    assert "AYBIZA_OUTBOUND_ALLOW_CIDRS" in refused.value.message
    assert receiver.seen == [] and network.connected == [] and network.refused == []


async def test_item1_with_the_loopback_allow_list_on_the_request_is_delivered_signed(
    receiver: Receiver,
) -> None:
    receiver.secret = "whsec_test"
    sender, network = loopback_sender()
    request = _post(
        receiver.url("/hook"),
        signing_secrets=("whsec_test",),
        idempotency_key="evt_1",
        headers={"AYBIZA-Event": "call.ended"},
    )
    try:
        response = await sender.send(request, timeout_s=2)
    finally:
        await sender.aclose()
    assert response.ok and response.attempts == 1
    [seen] = receiver.seen
    assert seen.signed is True and seen.key == "evt_1" and seen.json == {"n": 1}
    assert seen.headers["aybiza-event"] == "call.ended"
    assert seen.headers["user-agent"] == "AYBIZA/1"
    assert network.connected == [("127.0.0.1", receiver.port)]


async def test_item1_a_name_that_resolves_to_loopback_is_refused_unless_allowed(
    receiver: Receiver,
) -> None:
    url = f"http://{NAME}:{receiver.port}/hook"
    blocked_dns = StubResolver({NAME: [["127.0.0.1"]]})
    blocked, blocked_network = loopback_sender(allow=(), resolver=blocked_dns)
    allowed_dns = StubResolver({NAME: [["127.0.0.1"]]})
    allowed, allowed_network = loopback_sender(resolver=allowed_dns)
    try:
        with pytest.raises(OutboundError) as refused:
            await blocked.send(_post(url), timeout_s=2)
        assert receiver.seen == [] and blocked_network.connected == []
        delivered = await allowed.send(_post(url), timeout_s=2)
    finally:
        await blocked.aclose()
        await allowed.aclose()
    assert refused.value.kind == "refused"
    assert f"refused to call {NAME}: 127.0.0.1 is a loopback address" in refused.value.message
    assert delivered.ok
    [seen] = receiver.seen
    # The URL keeps its name (Host header, TLS name); only the socket goes to the address.
    assert seen.headers["host"] == f"{NAME}:{receiver.port}"
    assert allowed_network.connected == [("127.0.0.1", receiver.port)]


async def test_item1_dns_rebinding_the_connection_goes_to_the_address_that_was_checked(
    receiver: Receiver,
) -> None:
    # The first answer passes the guard; every later one would point at a refused address.
    dns = StubResolver({NAME: [["127.0.0.1"], ["127.0.0.2"]]})
    sender, network = loopback_sender(allow=("127.0.0.1/32",), resolver=dns)
    try:
        response = await sender.send(_post(f"http://{NAME}:{receiver.port}/hook"), timeout_s=2)
    finally:
        await sender.aclose()
    assert response.ok
    assert dns.asked == [NAME]
    assert network.connected == [("127.0.0.1", receiver.port)]


async def test_item1_one_refused_address_among_allowed_ones_refuses_the_name(
    receiver: Receiver,
) -> None:
    dns = StubResolver({NAME: [["127.0.0.1", "169.254.169.254"]]})
    sender, network = loopback_sender(resolver=dns)
    try:
        with pytest.raises(OutboundError) as refused:
            await sender.send(_post(f"http://{NAME}:{receiver.port}/hook"), timeout_s=2)
    finally:
        await sender.aclose()
    assert "169.254.169.254 is a link-local address" in refused.value.message
    assert receiver.seen == [] and network.connected == [] and network.refused == []


async def test_item1_a_redirect_is_never_followed_and_one_to_a_refused_address_is_refused(
    receiver: Receiver,
) -> None:
    metadata = "http://169.254.169.254/latest/meta-data/"
    receiver.script("/to-metadata", Answer(status=302, headers={"Location": metadata}))
    receiver.script("/moved", Answer(status=301, headers={"Location": "/elsewhere"}))
    sender, network = loopback_sender()
    try:
        with pytest.raises(OutboundError) as refused:
            await sender.send(_post(receiver.url("/to-metadata")), timeout_s=2)
        moved = await sender.send(_post(receiver.url("/moved")), timeout_s=2)
    finally:
        await sender.aclose()
    assert refused.value.kind == "refused"
    assert "redirected to a refused target" in refused.value.message
    assert "169.254.169.254 is a link-local address" in refused.value.message
    assert moved.status == 301 and not moved.ok
    assert [seen.path for seen in receiver.seen] == ["/to-metadata", "/moved"]
    assert network.refused == []


async def test_item1_no_connection_opens_to_a_host_the_guard_did_not_check(
    receiver: Receiver,
) -> None:
    network = LoopbackOnlyNetwork()
    connector = PinnedConnector(Guard(["127.0.0.0/8"]), network)
    with pytest.raises(Refused, match="was not checked"):
        await connector.connect_tcp("127.0.0.1", receiver.port)
    assert network.connected == []


async def test_item1_the_test_network_refuses_a_private_address_even_if_the_guard_allows_it() -> (
    None
):
    # The guard is opened on purpose: the loopback-only network below it still refuses, before
    # any socket exists. This is what keeps a broken guard from sending test traffic out.
    network = LoopbackOnlyNetwork()
    sender = Sender(Guard(["10.0.0.0/8"]), network=network)
    try:
        with pytest.raises(NonLoopbackConnect):
            await sender.send(_post("http://10.20.30.40:9/hook"), timeout_s=2)
    finally:
        await sender.aclose()
    assert network.refused == ["10.20.30.40"] and network.connected == []


async def test_server_errors_are_retried_with_the_same_idempotency_key(
    receiver: Receiver,
) -> None:
    receiver.script("/hook", Answer(status=503), Answer(status=502))
    sender, _ = loopback_sender()
    try:
        response = await sender.send(
            _post(receiver.url("/hook"), idempotency_key="k-1"),
            timeout_s=2,
            retries=Retries(attempts=3, backoff_s=0.01),
        )
    finally:
        await sender.aclose()
    assert response.ok and response.attempts == 3
    assert [seen.key for seen in receiver.seen] == ["k-1", "k-1", "k-1"]


async def test_a_client_error_is_returned_without_a_retry(receiver: Receiver) -> None:
    receiver.script("/hook", Answer(status=404))
    sender, _ = loopback_sender()
    try:
        response = await sender.send(
            _post(receiver.url("/hook")), timeout_s=2, retries=Retries(attempts=3, backoff_s=0.01)
        )
    finally:
        await sender.aclose()
    assert response.status == 404 and response.attempts == 1 and len(receiver.seen) == 1


def test_backoff_doubles_carries_jitter_and_never_passes_the_cap() -> None:
    retries = Retries(attempts=6, backoff_s=1.0, max_backoff_s=8.0, jitter=0.1)
    rng = random.Random(3)
    delays = [retries.delay_s(attempt, rng) for attempt in range(1, 6)]
    for delay, base in zip(delays[:3], (1.0, 2.0, 4.0), strict=True):
        assert base <= delay <= base * 1.1
    for delay in delays[3:]:  # 8 s and 16 s are at the cap: jitter goes below it
        assert 8.0 * 0.9 <= delay <= 8.0
    # Jitter: the same attempt waits differently each time (processes drift apart).
    assert len({round(retries.delay_s(1, rng), 9) for _ in range(5)}) == 5
    assert len({round(retries.delay_s(5, rng), 9) for _ in range(5)}) == 5
    assert retries.longest_wait_s() == pytest.approx(1.1 + 2.2 + 4.4 + 8 + 8)


async def test_an_answer_over_the_size_cap_is_cut_and_flagged(receiver: Receiver) -> None:
    receiver.script("/big", Answer(text="x" * 50_000))
    network = LoopbackOnlyNetwork()
    sender = Sender(Guard(["127.0.0.0/8"]), network=network, max_response_bytes=1_000)
    try:
        response = await sender.send(_post(receiver.url("/big")), timeout_s=2)
    finally:
        await sender.aclose()
    assert response.truncated and len(response.body) == 1_000


async def test_a_slow_answer_is_a_timeout(receiver: Receiver) -> None:
    receiver.script("/slow", Answer(delay_s=2.0))
    sender, _ = loopback_sender()
    try:
        with pytest.raises(OutboundError) as failed:
            await sender.send(_post(receiver.url("/slow")), timeout_s=0.3)
    finally:
        await sender.aclose()
    assert failed.value.kind == "timeout" and "no answer within 0.3 s" in failed.value.message


async def test_get_arguments_travel_in_the_query_and_the_query_is_signed(
    receiver: Receiver,
) -> None:
    receiver.secret = "whsec_q"
    sender, _ = loopback_sender()
    request = OutboundRequest(
        method="GET",
        url=receiver.url("/find"),
        params={"date": "2026-12-24", "size": "2"},
        signing_secrets=("whsec_q",),
    )
    try:
        response = await sender.send(request, timeout_s=2)
    finally:
        await sender.aclose()
    assert response.ok
    [seen] = receiver.seen
    assert seen.query == "date=2026-12-24&size=2" and seen.signed is True and seen.body == b""


async def test_a_name_that_does_not_resolve_is_a_connection_failure_not_a_refusal() -> None:
    dns = StubResolver({})
    sender, network = loopback_sender(resolver=dns)
    try:
        with pytest.raises(OutboundError) as failed:
            await sender.send(
                _post(f"http://{NAME}/hook"),
                timeout_s=2,
                retries=Retries(attempts=2, backoff_s=0.01),
            )
    finally:
        await sender.aclose()
    # A resolver hiccup may pass: it is retried, unlike a refusal.
    assert failed.value.kind == "connection" and failed.value.attempts == 2
    assert f"cannot resolve {NAME}" in failed.value.message
    assert dns.asked == [NAME, NAME] and network.connected == []
