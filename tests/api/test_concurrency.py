"""Per-tenant concurrency limits: calls over the limit are answered politely and recorded with
ended reason ``concurrency-limit``; live calls are counted in the database."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor

import httpx
from tests.api.conftest import ApiServer
from tests.api.helpers import Answer, create_agent, create_number, ring

from aybiza.store.models import Call, utcnow


def _limited(api: ApiServer, limit: int, **number_fields: str) -> tuple[httpx.Client, str]:
    tenant = api.tenant(max_concurrent_calls=limit)
    http = api.client(tenant.key)
    number = create_number(http, create_agent(http)["id"], **number_fields)["number"]
    return http, number


def test_a_call_over_the_limit_is_answered_politely_and_recorded(api: ApiServer) -> None:
    http, number = _limited(api, 2)
    assert http.get("/v1/tenant").json()["max_concurrent_calls"] == 2
    assert ring(api.twilio, number).streams and ring(api.twilio, number).streams
    over = ring(api.twilio, number)
    assert not over.streams
    assert over.said == [
        "Sorry, all of our agents are busy right now. Please call again in a few minutes. Goodbye."
    ]
    assert over.root.find("Hangup") is not None
    record = http.get(f"/v1/calls/{over.call_sid}").json()
    assert record["status"] == "completed" and record["ended_reason"] == "concurrency-limit"
    assert http.get("/v1/tenant").json()["live_calls"] == 2
    listed = http.get("/v1/calls", params={"status": "completed"}).json()["data"]
    assert [c["call_sid"] for c in listed] == [over.call_sid]


def test_a_number_with_a_fallback_transfers_calls_over_the_limit(api: ApiServer) -> None:
    http, number = _limited(api, 0, fallback_number="+14155550199")
    over = ring(api.twilio, number)
    assert over.dialled == ["+14155550199"] and "busy" in over.said[0]
    record = http.get(f"/v1/calls/{over.call_sid}").json()
    assert record["ended_reason"] == "concurrency-limit"
    assert record["transfer_to"] == "+14155550199"


def test_a_line_frees_up_when_a_call_ends(api: ApiServer) -> None:
    http, number = _limited(api, 1)
    first = ring(api.twilio, number)
    assert not ring(api.twilio, number).streams
    # Twilio reports the stream never started; the call ends and its line is free again.
    answer = api.twilio.post(
        "/twilio/connect-action",
        data={"CallSid": first.call_sid, "From": "+15558675310", "To": number},
    )
    assert Answer(first.call_sid, answer.text).root.find("Hangup") is not None
    assert http.get(f"/v1/calls/{first.call_sid}").json()["ended_reason"] == "stream-failed"
    assert ring(api.twilio, number).streams


def test_calls_live_in_other_processes_count_against_the_limit(api: ApiServer) -> None:
    http, number = _limited(api, 1)
    tenant_id = http.get("/v1/tenant").json()["id"]

    async def live_elsewhere() -> None:
        async with api.app.state.database.writing() as session:
            session.add(
                Call(
                    tenant_id=tenant_id,
                    call_sid="CA" + secrets.token_hex(16),
                    status="in-progress",
                    created_at=utcnow(),
                    started_at=utcnow(),
                )
            )

    api.run(live_elsewhere())
    assert not ring(api.twilio, number).streams


def test_simultaneous_calls_never_exceed_the_limit(api: ApiServer) -> None:
    http, number = _limited(api, 3)
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: ring(api.twilio, number), range(8)))
    assert sum(answer.streams for answer in answers) == 3
    refused = http.get("/v1/calls", params={"status": "completed"}).json()["data"]
    assert len(refused) == 5
    assert {call["ended_reason"] for call in refused} == {"concurrency-limit"}


def test_limits_are_per_tenant(api: ApiServer) -> None:
    _, full = _limited(api, 0)
    _, free = _limited(api, 1)
    assert not ring(api.twilio, full).streams
    assert ring(api.twilio, free).streams
