"""Campaigns dialling through the real server and Twilio's REST API (the fake): people,
voicemail (Twilio's answering-machine detection), busy and unanswered numbers complete with each
outcome recorded; a dispatcher that stops mid-campaign
is replaced without any attempt dialled twice; calling windows follow an injected clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from tests.api.campaign_helpers import callee, campaign_body, tenant_with_number
from tests.api.carrier import Carrier
from tests.fakes.twilio_resources import FakeCall

from aybiza.services.campaign_dispatcher import CampaignDispatcher


def _calls(carrier: Carrier) -> list[FakeCall]:
    async def snapshot() -> list[FakeCall]:
        return list(carrier.fake.calls.values())

    return carrier.run_fake(snapshot())


def _dials(carrier: Carrier, number: str) -> int:
    return sum(1 for call in _calls(carrier) if call.to == number)


def _contacts(http: httpx.Client, campaign_id: str) -> dict[str, dict[str, Any]]:
    rows = http.get(f"/v1/campaigns/{campaign_id}/contacts", params={"limit": 100}).json()["data"]
    return {row["number"]: row for row in rows}


def test_a_campaign_of_people_voicemail_busy_and_unanswered_numbers_records_each_outcome(
    carrier: Carrier,
) -> None:
    # Twilio's answering-machine detection tells machines from people (``answered_by``).
    screening = {"detection": "carrier", "action": "hang_up"}
    http, number = tenant_with_number(carrier, voicemail=screening)
    person, busy_then_person, nobody, blocked = callee(), callee("415"), callee(), callee()
    machine = callee()
    assert http.post("/v1/do-not-call", json={"number": blocked}).status_code == 201
    contacts: list[dict[str, Any]] = [
        {"number": person, "variables": {"first_name": "Ann", "topic": "renewal"}},
        {"number": busy_then_person, "variables": {"first_name": "Bob"}},
        {"number": nobody},
        {"number": blocked},
        {"number": machine},
    ]
    created = http.post("/v1/campaigns", json=campaign_body(number, contacts))
    assert created.status_code == 201, created.text
    campaign_id = created.json()["id"]
    handled: set[str] = set()
    deadline = time.monotonic() + 60
    while http.get(f"/v1/campaigns/{campaign_id}").json()["status"] != "completed":
        assert time.monotonic() < deadline, _contacts(http, campaign_id)
        for call in _calls(carrier):
            if call.sid in handled or call.to not in (person, busy_then_person, nobody, machine):
                continue
            handled.add(call.sid)
            if call.to == machine:
                carrier.run_fake(carrier.fake.answer(call.sid))
                carrier.run_fake(carrier.fake.send_amd(call.sid, "machine_start"))
                carrier.run_fake(carrier.fake.hang_up(call.sid, "completed"))
            elif call.to == nobody:
                carrier.run_fake(carrier.fake.hang_up(call.sid, "no-answer"))
            elif call.to == busy_then_person and _dials(carrier, busy_then_person) == 1:
                carrier.run_fake(carrier.fake.hang_up(call.sid, "busy"))
            else:
                carrier.run_fake(carrier.fake.answer(call.sid))
                carrier.run_fake(carrier.fake.hang_up(call.sid, "completed"))
        time.sleep(0.05)
    results = _contacts(http, campaign_id)
    outcomes = {n: (row["outcome"], row["attempts"]) for n, row in results.items()}
    assert outcomes == {
        person: ("answered", 1),
        busy_then_person: ("answered", 2),
        nobody: ("no-answer", 2),
        blocked: ("do-not-call", 0),
        machine: ("voicemail", 2),
    }
    dialled = [_dials(carrier, n) for n in (person, busy_then_person, nobody, blocked, machine)]
    assert dialled == [1, 2, 2, 0, 2]
    summary = http.get(f"/v1/campaigns/{campaign_id}").json()
    assert summary["finished_at"] is not None
    assert summary["contacts"]["by_outcome"] == {
        "answered": 2,
        "no-answer": 1,
        "do-not-call": 1,
        "voicemail": 1,
    }
    # The contact's variables reached the call, for the agent's prompt.
    call = http.get(f"/v1/calls/{results[person]['last_call_id']}").json()
    assert call["to"] == person and call["direction"] == "outbound-api"
    assert call["custom_parameters"] == {"first_name": "Ann", "topic": "renewal"}
    csv_rows = http.get(f"/v1/campaigns/{campaign_id}/results.csv").text.splitlines()
    assert csv_rows[0].startswith("position,number,status,outcome,attempts,last_call_id")
    assert f"2,{nobody},done,no-answer,2," in csv_rows[3]


@pytest.fixture
def dispatchers(carrier: Carrier) -> Iterator[list[CampaignDispatcher]]:
    """The server's own dispatcher stopped, so the test's dispatchers (with their clocks) are
    the only ones dialling; it starts again afterwards."""
    server = carrier.api
    own: CampaignDispatcher = server.app.state.campaign_dispatcher
    server.run(own.stop())
    made: list[CampaignDispatcher] = []
    try:
        yield made
    finally:

        async def restart() -> None:
            own.start()

        server.run(restart())


def _dispatcher(carrier: Carrier, owner: str) -> CampaignDispatcher:
    state = carrier.api.app.state
    # Polling every 10 ms: a pass places what the pace allowed in the last 10 ms.
    return CampaignDispatcher(state.database, state.outbound_calls, owner=owner, poll_s=0.01)


def test_a_dispatcher_stopped_mid_campaign_is_replaced_without_dialling_any_attempt_twice(
    carrier: Carrier, dispatchers: list[CampaignDispatcher]
) -> None:
    http, number = tenant_with_number(carrier)
    first, second, third = callee(), callee(), callee()
    body = campaign_body(
        number,
        [{"number": first}, {"number": second}, {"number": third}],
        pacing={"calls_per_minute": 60, "max_concurrent_calls": 3},
        retry={"max_attempts": 2, "backoff_s": 60, "multiplier": 1},
    )
    campaign_id = http.post("/v1/campaigns", json=body).json()["id"]
    start = datetime.now(UTC) + timedelta(seconds=1)
    old = _dispatcher(carrier, "old-process")
    assert carrier.api.run(old.tick(start)) == 1  # the pace allows one call a second
    # The old process claims the next attempt and stops before placing its call.
    claim = carrier.api.run(old.claim_next(campaign_id, start + timedelta(seconds=1)))
    assert claim is not None and claim.contact_number == second
    assert _dials(carrier, second) == 0
    new = _dispatcher(carrier, "new-process")
    at = start + timedelta(seconds=1)
    assert carrier.api.run(new.tick(at)) == 0  # the claim is placed, under the id it claimed
    assert carrier.api.run(new.tick(at)) == 0
    assert [_dials(carrier, n) for n in (first, second, third)] == [1, 1, 0]
    contacts = _contacts(http, campaign_id)
    assert contacts[second]["last_call_id"] == claim.call_id
    assert http.get(f"/v1/calls/{claim.call_id}").json()["to"] == second
    assert carrier.api.run(new.tick(at + timedelta(seconds=1))) == 1
    assert carrier.api.run(new.tick(at + timedelta(seconds=2))) == 0
    assert [_dials(carrier, n) for n in (first, second, third)] == [1, 1, 1]
    # The first callee is busy: one more attempt, after the backoff, exactly once.
    sid = next(call.sid for call in _calls(carrier) if call.to == first)
    carrier.run_fake(carrier.fake.hang_up(sid, "busy"))
    later = at + timedelta(seconds=3)
    assert carrier.api.run(new.tick(later)) == 0
    assert _contacts(http, campaign_id)[first]["outcome"] == "busy"
    retry_at = later + timedelta(seconds=60)
    restarted = _dispatcher(carrier, "third-process")
    assert carrier.api.run(restarted.tick(retry_at)) == 1
    assert carrier.api.run(restarted.tick(retry_at + timedelta(seconds=5))) == 0
    assert [_dials(carrier, n) for n in (first, second, third)] == [2, 1, 1]
    assert _contacts(http, campaign_id)[first]["attempts"] == 2
    http.post(f"/v1/campaigns/{campaign_id}/cancel")


def test_callees_are_rung_only_inside_the_window_in_their_own_local_time(
    carrier: Carrier, dispatchers: list[CampaignDispatcher]
) -> None:
    http, number = tenant_with_number(carrier)
    new_york, los_angeles = callee("212"), callee("415")
    window = {
        "start": "09:00",
        "end": "20:00",
        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
    }
    body = campaign_body(
        number, [{"number": new_york}, {"number": los_angeles}], calling_window=window
    )
    campaign_id = http.post("/v1/campaigns", json=body).json()["id"]
    # Tomorrow 09:30 in New York: still night in Los Angeles.
    eastern, pacific = ZoneInfo("America/New_York"), ZoneInfo("America/Los_Angeles")
    tomorrow = (datetime.now(eastern) + timedelta(days=1)).date()
    morning = datetime.combine(tomorrow, datetime.min.time().replace(hour=9, minute=30), eastern)
    clock = _dispatcher(carrier, "windowed")
    assert carrier.api.run(clock.tick(morning.astimezone(UTC))) == 1
    assert [_dials(carrier, n) for n in (new_york, los_angeles)] == [1, 0]
    # The next pass (the pace allowing) finds Los Angeles closed until 09:00 there.
    assert carrier.api.run(clock.tick((morning + timedelta(minutes=1)).astimezone(UTC))) == 0
    opening = datetime.combine(tomorrow, datetime.min.time().replace(hour=9), pacific)
    waiting = _contacts(http, campaign_id)[los_angeles]
    assert waiting["status"] == "pending"
    assert datetime.fromisoformat(waiting["next_attempt_at"]) == opening
    before = opening - timedelta(minutes=1)
    assert carrier.api.run(clock.tick(before.astimezone(UTC))) == 0
    assert carrier.api.run(clock.tick(opening.astimezone(UTC))) == 1
    assert [_dials(carrier, n) for n in (new_york, los_angeles)] == [1, 1]
    http.post(f"/v1/campaigns/{campaign_id}/cancel")


def test_a_paused_campaign_places_no_call_and_a_number_listed_meanwhile_is_skipped(
    carrier: Carrier, dispatchers: list[CampaignDispatcher]
) -> None:
    http, number = tenant_with_number(carrier)
    listed_later, called = callee(), callee()
    body = campaign_body(number, [{"number": listed_later}, {"number": called}])
    campaign_id = http.post("/v1/campaigns", json=body).json()["id"]
    http.post(f"/v1/campaigns/{campaign_id}/pause")
    now = datetime.now(UTC) + timedelta(seconds=1)
    dispatcher = _dispatcher(carrier, "pausing")
    assert carrier.api.run(dispatcher.tick(now)) == 0
    assert http.post("/v1/do-not-call", json={"number": listed_later}).status_code == 201
    http.post(f"/v1/campaigns/{campaign_id}/resume")
    assert carrier.api.run(dispatcher.tick(now + timedelta(seconds=1))) == 1
    assert [_dials(carrier, n) for n in (listed_later, called)] == [0, 1]
    contacts = _contacts(http, campaign_id)
    assert (contacts[listed_later]["status"], contacts[listed_later]["outcome"]) == (
        "skipped",
        "do-not-call",
    )
    # Canceled with its call still ringing: the call's end is still recorded, then it finishes.
    assert http.post(f"/v1/campaigns/{campaign_id}/cancel").json()["status"] == "canceled"
    sid = next(call.sid for call in _calls(carrier) if call.to == called)
    carrier.run_fake(carrier.fake.hang_up(sid, "no-answer"))
    assert carrier.api.run(dispatcher.tick(now + timedelta(seconds=2))) == 0
    assert _contacts(http, campaign_id)[called]["outcome"] == "no-answer"
    assert _contacts(http, campaign_id)[called]["status"] == "done"
    assert http.get(f"/v1/campaigns/{campaign_id}").json()["finished_at"] is not None


def test_two_dispatchers_working_at_once_dial_each_contact_once(
    carrier: Carrier, dispatchers: list[CampaignDispatcher]
) -> None:
    http, number = tenant_with_number(carrier)
    numbers = [callee() for _ in range(6)]
    body = campaign_body(number, [{"number": n} for n in numbers])
    campaign_id = http.post("/v1/campaigns", json=body).json()["id"]
    one, two = _dispatcher(carrier, "process-one"), _dispatcher(carrier, "process-two")
    now = datetime.now(UTC) + timedelta(seconds=1)

    async def both(at: datetime) -> list[int]:
        return list(await asyncio.gather(one.tick(at), two.tick(at)))

    placed = 0
    for step in range(8):
        placed += sum(carrier.api.run(both(now + timedelta(seconds=step))))
    assert placed == 6
    assert [_dials(carrier, n) for n in numbers] == [1] * 6
    http.post(f"/v1/campaigns/{campaign_id}/cancel")


def test_each_pass_places_what_the_pace_allowed_since_the_last_one(
    carrier: Carrier, dispatchers: list[CampaignDispatcher]
) -> None:
    http, number = tenant_with_number(carrier)
    numbers = [callee() for _ in range(30)]
    body = campaign_body(
        number,
        [{"number": n} for n in numbers],
        pacing={"calls_per_minute": 600, "max_concurrent_calls": 50},
    )
    campaign_id = http.post("/v1/campaigns", json=body).json()["id"]
    state = carrier.api.app.state
    # Polling once a second at 600 calls a minute: about ten calls a pass, not one.
    dispatcher = CampaignDispatcher(state.database, state.outbound_calls, owner="paced", poll_s=1.0)
    start = datetime.now(UTC) + timedelta(seconds=1)
    first = carrier.api.run(dispatcher.tick(start))
    assert 10 <= first <= 11
    assert carrier.api.run(dispatcher.tick(start + timedelta(seconds=0.5))) == 5
    assert sum(_dials(carrier, n) for n in numbers) == first + 5
    http.post(f"/v1/campaigns/{campaign_id}/cancel")
