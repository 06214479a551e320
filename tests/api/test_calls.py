"""``/v1/calls``: filtered, paged lists; a call by id or CallSid with its cost broken down;
hanging up a live call driven by the simulated Twilio caller."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from tests.api.conftest import ApiServer, Tenant
from tests.api.helpers import create_agent, create_number, demo_agent_body, ring

from aybiza.simulator.twilio_client import SimulatedCall
from aybiza.store.calls import call_by_sid
from aybiza.store.models import Call, Turn, utcnow


def _page_ids(http: httpx.Client, **params: Any) -> list[str]:
    response = http.get("/v1/calls", params=params)
    assert response.status_code == 200, response.text
    return [call["call_sid"] for call in response.json()["data"]]


def test_calls_are_listed_newest_first_with_filters_and_paging(
    api: ApiServer, http: httpx.Client
) -> None:
    first, second = create_agent(http), create_agent(http)
    number_a = create_number(http, first["id"])
    number_b = create_number(http, second["id"])
    before = datetime.now(UTC)
    a_calls = [ring(api.twilio, number_a["number"]).call_sid for _ in range(3)]
    middle = datetime.now(UTC)
    b_calls = [ring(api.twilio, number_b["number"]).call_sid for _ in range(2)]
    everything = list(reversed(a_calls + b_calls))
    assert _page_ids(http) == everything
    assert _page_ids(http, agent_id=second["id"]) == list(reversed(b_calls))
    assert _page_ids(http, number=number_a["number"]) == list(reversed(a_calls))
    assert _page_ids(http, status="ringing") == everything
    assert _page_ids(http, status="completed") == []
    assert _page_ids(http, started_after=middle.isoformat()) == list(reversed(b_calls))
    assert _page_ids(http, started_before=middle.isoformat()) == list(reversed(a_calls))
    assert _page_ids(http, started_before=before.isoformat()) == []
    paged: list[str] = []
    cursor = None
    while True:
        page = http.get("/v1/calls", params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        paged += [call["call_sid"] for call in page.json()["data"]]
        if (cursor := page.json()["next_cursor"]) is None:
            break
    assert paged == everything
    summary = http.get("/v1/calls", params={"limit": 1}).json()["data"][0]
    assert summary["from"] == "+15558675310" and summary["agent_version"] == "1.0.0"


def test_bad_filters_are_rejected_naming_the_parameter(http: httpx.Client) -> None:
    for params, field in (
        ({"status": "lost"}, "status"),
        ({"started_after": "yesterday"}, "started_after"),
        ({"started_before": "0001-01-01T00:00:00+05:00"}, "started_before"),
        ({"agent_id": "x" * 65}, "agent_id"),
        ({"limit": 0}, "limit"),
    ):
        response = http.get("/v1/calls", params=params)
        assert response.status_code == 422, params
        assert response.json()["error"]["field"] == field, response.text
    assert http.get("/v1/calls", params={"agent_id": "not-an-id"}).status_code == 422


def test_a_call_is_fetched_by_id_or_by_call_sid(api: ApiServer, http: httpx.Client) -> None:
    agent = create_agent(http)
    answer = ring(api.twilio, create_number(http, agent["id"])["number"])
    by_sid = http.get(f"/v1/calls/{answer.call_sid}")
    assert by_sid.status_code == 200, by_sid.text
    record = by_sid.json()
    assert http.get(f"/v1/calls/{record['id']}").json()["call_sid"] == answer.call_sid
    assert record["status"] == "ringing" and record["agent"]["id"] == agent["id"]
    assert record["cost"]["final"] is False
    assert http.get("/v1/calls/CA" + "0" * 32).status_code == 404
    assert http.get("/v1/calls/not a call").status_code == 404


def _seed_finished_call(api: ApiServer, tenant: Tenant) -> str:
    """A finished three-minute call on cloud engines with two turns of model usage."""

    async def write() -> str:
        ended = utcnow()
        call = Call(
            tenant_id=tenant.id,
            call_sid="CA" + secrets.token_hex(16),
            from_number="+15550000001",
            to_number="+15550000002",
            status="completed",
            ended_reason="caller-hangup",
            engines={"stt": "deepgram", "tts": "deepgram", "llm": "bedrock", "reason": "test"},
            stats={"duration_s": 150.0},
            created_at=ended - timedelta(seconds=170),
            started_at=ended - timedelta(seconds=150),
            ended_at=ended,
        )
        async with api.app.state.database.writing() as session:
            session.add(call)
            await session.flush()
            for index, (model, text, used) in enumerate(
                (
                    ("claude-3-5-haiku", "a" * 600, {"input_tokens": 1000, "output_tokens": 200}),
                    ("claude-3-7-sonnet", "b" * 400, {"input_tokens": 3000, "output_tokens": 100}),
                ),
                start=1,
            ):
                session.add(
                    Turn(
                        tenant_id=tenant.id,
                        call_id=call.id,
                        index=index,
                        user_text="question",
                        agent_text=text,
                        heard_text=text,
                        model=model,
                        timings_ms={"stt_final": 120.0, "first_audio_sent": 640.0},
                        usage=used,
                    )
                )
        return call.id

    return api.run(write())


def test_a_call_report_breaks_its_cost_down_by_part(
    api: ApiServer, tenant: Tenant, http: httpx.Client
) -> None:
    call_id = _seed_finished_call(api, tenant)
    record = http.get(f"/v1/calls/{call_id}").json()
    cost = record["cost"]
    # Default prices: $0.0085 per started minute, Deepgram $0.0077/min and $0.030 per 1000
    # characters, Claude 3.5 Haiku $0.0008/$0.004 and 3.7 Sonnet $0.003/$0.015 per 1000 tokens.
    assert cost["telephony"] == pytest.approx(3 * 0.0085)
    assert cost["stt"] == pytest.approx(150 / 60 * 0.0077)
    assert cost["tts"] == pytest.approx(1000 / 1000 * 0.030)
    assert cost["llm"] == pytest.approx(0.0008 + 0.2 * 0.004 + 3 * 0.003 + 0.1 * 0.015)
    parts = cost["telephony"] + cost["stt"] + cost["tts"] + cost["llm"]
    assert cost["total"] == pytest.approx(parts, abs=1e-6)
    assert cost["final"] is True and cost["currency"] == "USD"
    assert cost["units"]["telephony_minutes"] == 3 and cost["units"]["tts_characters"] == 1000
    assert record["usage"]["input_tokens"] == 4000 and record["usage"]["output_tokens"] == 300
    assert record["usage"]["by_model"]["claude-3-5-haiku"]["turns"] == 1
    assert [turn["timings_ms"]["first_audio_sent"] for turn in record["turns"]] == [640.0, 640.0]
    assert record["duration_s"] == pytest.approx(170, abs=0.01)


def test_hanging_up_a_call_that_is_not_live_is_a_conflict(
    api: ApiServer, tenant: Tenant, http: httpx.Client
) -> None:
    finished = _seed_finished_call(api, tenant)
    assert http.post(f"/v1/calls/{finished}/hangup").status_code == 409
    ringing = ring(api.twilio, create_number(http, create_agent(http)["id"])["number"])
    response = http.post(f"/v1/calls/{ringing.call_sid}/hangup")
    assert response.status_code == 409 and response.json()["error"]["code"] == "call_not_live"
    assert http.post("/v1/calls/" + "f" * 32 + "/hangup").status_code == 404


async def _ended(http: httpx.AsyncClient, call_sid: str, reason: str) -> dict[str, Any]:
    for _ in range(200):
        record: dict[str, Any] = (await http.get(f"/v1/calls/{call_sid}")).json()
        if record["ended_reason"] == reason:
            return record
        await asyncio.sleep(0.05)
    raise AssertionError(f"call {call_sid} did not end with {reason}: {record}")


async def _request_hangup_in_database(api: ApiServer, call_sid: str) -> None:
    async with api.app.state.database.writing() as session:
        call = await call_by_sid(session, call_sid)
        assert call is not None
        call.hangup_requested_at = utcnow()


async def test_a_live_call_is_hung_up_through_the_api(api: ApiServer, tenant: Tenant) -> None:
    setup = api.client(tenant.key)
    agent = create_agent(setup, demo_agent_body())
    number = create_number(setup, agent["id"])["number"]
    async with api.aclient(tenant.key) as http, asyncio.timeout(90):
        here = await SimulatedCall.dial(api.base_url, to=number)
        elsewhere = await SimulatedCall.dial(api.base_url, to=number)
        async with here, elsewhere:
            await here.wait_for_agent_audio(timeout=30)
            await elsewhere.wait_for_agent_audio(timeout=30)
            response = await http.post(f"/v1/calls/{here.call_sid}/hangup")
            assert response.status_code == 200, response.text
            assert response.json()["outcome"] == "ended"
            assert response.json()["call"]["ended_reason"] == "api-hangup"
            await here.wait_until_ended(timeout=10)
            # A call whose loop runs in another server process is ended through the
            # database: every process polls for hang-ups requested of its own calls.
            await api.arun(_request_hangup_in_database(api, elsewhere.call_sid))
            await elsewhere.wait_until_ended(timeout=10)
        record = await _ended(http, elsewhere.call_sid, "api-hangup")
        assert record["status"] == "completed" and record["started_at"] is not None
        again = await http.post(f"/v1/calls/{here.call_sid}/hangup")
        assert again.status_code == 409


def test_a_call_running_in_another_process_is_asked_to_hang_up(
    api: ApiServer, tenant: Tenant, http: httpx.Client
) -> None:
    async def live_elsewhere() -> str:
        call = Call(
            tenant_id=tenant.id,
            call_sid="CA" + secrets.token_hex(16),
            status="in-progress",
            created_at=utcnow(),
            started_at=utcnow(),
        )
        async with api.app.state.database.writing() as session:
            session.add(call)
        return call.id

    call_id = api.run(live_elsewhere())
    response = http.post(f"/v1/calls/{call_id}/hangup")
    assert response.status_code == 202, response.text
    assert response.json()["outcome"] == "requested"

    async def requested_at() -> object:
        async with api.app.state.database.session() as session:
            row = await session.get(Call, call_id)
            return None if row is None else row.hangup_requested_at

    assert api.run(requested_at()) is not None


def test_a_sip_call_is_fetched_by_its_call_id_whatever_its_shape(
    api: ApiServer, tenant: Tenant, http: httpx.Client
) -> None:
    # A SIP call's carrier id is its Call-ID: any word, sometimes 32 hex digits like our ids.
    call_ids = ["a84b4c76e66710@pc33.atlanta.example.com", secrets.token_hex(16)]

    async def seed() -> list[str]:
        calls = [
            Call(tenant_id=tenant.id, call_sid=call_id, carrier="sip", status="in-progress",
                 created_at=utcnow(), started_at=utcnow())
            for call_id in call_ids
        ]  # fmt: skip
        async with api.app.state.database.writing() as session:
            session.add_all(calls)
        return [call.id for call in calls]

    ids = api.run(seed())
    for call_id, row_id in zip(call_ids, ids, strict=True):
        record = http.get(f"/v1/calls/{call_id}")
        assert record.status_code == 200, record.text
        assert record.json()["id"] == row_id and record.json()["carrier"] == "sip"
        assert http.get(f"/v1/calls/{row_id}").json()["call_sid"] == call_id
    assert http.get("/v1/calls/" + "x" * 65).status_code == 404
    assert http.get("/v1/calls/nobody@example.com").status_code == 404
