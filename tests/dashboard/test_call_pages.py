"""The calls pages: the list, a call's page (transcript with times, per-turn waterfall, cost),
the live calls page and its event stream, hanging up; the analyst may look but not hang up;
another tenant's calls are neither listed, shown nor streamed."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from tests.api.conftest import ApiServer
from tests.dashboard.calls import add_call
from tests.dashboard.pages import browser, csrf, person, person_in, text_of

from aybiza.agents.demo import DEMO_PHONE_NUMBER
from aybiza.services.tenants import TenantService
from aybiza.simulator import webhook
from aybiza.simulator.twilio_client import DEFAULT_CALLER, SimulatedCall


def test_a_calls_page_shows_transcript_waterfall_and_cost(site: ApiServer) -> None:
    tenant = site.tenant()
    client = browser(site, person(site, tenant, "developer"))
    call_id = add_call(site, tenant.id, live=False)
    listed = client.get("/calls")
    assert f'href="/calls/{call_id}"' in listed.text
    page = client.get(f"/calls/{call_id}")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "caller I need a plumber" in text and "agent Sure, when suits you?" in text
    assert 'aria-label="Turn waterfall (platform added 5 ms)"' in page.text
    assert "model first token: 121–380 ms" in page.text
    assert "completed (caller-hangup)" in text
    # No recording recorded: the page says so and offers no player.
    assert "No recording for this call." in text and "<audio" not in page.text
    assert "Hang up" not in page.text


def test_the_live_page_and_its_stream_show_a_live_call(site: ApiServer) -> None:
    tenant, other = site.tenant(), site.tenant()
    client = browser(site, person(site, tenant, "developer"))
    add_call(site, other.id, live=True, said="secret of the other tenant")
    call_id = add_call(site, tenant.id, live=True)
    page = client.get("/live")
    assert page.status_code == 200
    assert f'data-call-id="{call_id}"' in page.text
    assert "secret of the other tenant" not in page.text
    with client.stream("GET", "/live/events") as events:
        assert events.headers["content-type"].startswith("text/event-stream")
        data = _first_event(events, "calls")
    assert [c["id"] for c in data] == [call_id]
    assert data[0]["turns"][0]["voice_to_voice_ms"] == 612.0
    assert data[0]["transcript"][0]["text"] == "I need a plumber"


def _first_event(response: httpx.Response, name: str) -> list[dict[str, Any]]:
    event = ""
    for line in response.iter_lines():
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: ") and event == name:
            found: list[dict[str, Any]] = json.loads(line.removeprefix("data: "))
            return found
    raise AssertionError(f"the stream ended without a {name!r} event")


def test_hanging_up_a_live_call_from_its_page(site: ApiServer) -> None:
    tenant = site.tenant()
    client = browser(site, person(site, tenant, "admin"))
    call_id = add_call(site, tenant.id, live=True)
    page = client.get(f"/calls/{call_id}")
    assert "Hang up" in page.text
    hung = client.post(f"/calls/{call_id}/hangup", data={"csrf_token": csrf(client)})
    assert hung.status_code == 303 and hung.headers["location"] == f"/calls/{call_id}"
    # The call runs in no process here: the request is recorded for the one running it (the
    # audit log says so, as for the API's hang-up).
    audit = client.get("/v1/audit-events", params={"action": "call.hangup_requested"})
    assert audit.status_code == 200 and call_id in audit.text


def test_an_analyst_sees_calls_but_cannot_hang_up(site: ApiServer) -> None:
    tenant = site.tenant()
    analyst = browser(site, person(site, tenant, "analyst"))
    call_id = add_call(site, tenant.id, live=True)
    page = analyst.get(f"/calls/{call_id}")
    assert page.status_code == 200 and "Hang up" not in page.text
    assert "Hang up" not in analyst.get("/live").text
    refused = analyst.post(f"/calls/{call_id}/hangup", data={"csrf_token": csrf(analyst)})
    assert refused.status_code == 403 and "calls:write" in refused.text


def test_another_tenants_call_is_not_found(site: ApiServer) -> None:
    mine, theirs = site.tenant(), site.tenant()
    client = browser(site, person(site, mine, "owner"))
    their_call = add_call(site, theirs.id, live=False)
    assert client.get(f"/calls/{their_call}").status_code == 404
    assert their_call not in client.get("/calls").text
    refused = client.post(f"/calls/{their_call}/hangup", data={"csrf_token": csrf(client)})
    assert refused.status_code == 404


def test_a_live_call_is_transferred_from_its_page(site: ApiServer) -> None:
    tenants: TenantService = site.app.state.tenants
    demo = site.run(tenants.find("demo"))
    client = browser(site, person_in(site, demo.id, "developer"))
    call = site.run(SimulatedCall.dial(site.base_url, to=DEMO_PHONE_NUMBER))
    try:
        report = _wait_for_call(client, call.call_sid)
        refused = client.post(
            f"/calls/{report['id']}/transfer", data={"to": "desk", "csrf_token": csrf(client)}
        )
        assert refused.status_code == 303 and "message=to%3A" in refused.headers["location"]
        moved = client.post(
            f"/calls/{report['id']}/transfer",
            data={"to": "+15550100999", "csrf_token": csrf(client)},
        )
        assert moved.status_code == 303, moved.text
        after = client.get(f"/v1/calls/{report['id']}").json()
        assert (after["ended_reason"], after["transfer_to"]) == ("transferred", "+15550100999")
        # Twilio asks what next once the stream closed: it dials the transfer target.
        form = webhook.incoming_call_form(
            call_sid=call.call_sid,
            account_sid=webhook.new_account_sid(),
            from_=DEFAULT_CALLER,
            to=DEMO_PHONE_NUMBER,
        )
        answer = site.twilio.post("/twilio/connect-action", data=form)
        assert "<Number>+15550100999</Number>" in answer.text
    finally:
        site.run(call.hangup())


def _wait_for_call(client: httpx.Client, call_sid: str) -> dict[str, Any]:
    for _ in range(200):
        response = client.get(f"/v1/calls/{call_sid}")
        if response.status_code == 200 and response.json()["status"] == "in-progress":
            found: dict[str, Any] = response.json()
            return found
        time.sleep(0.05)
    raise AssertionError(f"the call {call_sid} never went in progress")


def test_the_transfer_api_names_what_is_wrong(site: ApiServer) -> None:
    tenant = site.tenant()
    api = site.client(tenant.key)
    call_id = add_call(site, tenant.id, live=True)
    bad = api.post(f"/v1/calls/{call_id}/transfer", json={"to": "front desk"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "to"
    elsewhere = api.post(f"/v1/calls/{call_id}/transfer", json={"to": "sip:desk@pbx.example.com"})
    assert elsewhere.status_code == 409 and elsewhere.json()["error"]["code"] == "call_not_here"
    ended = add_call(site, tenant.id, live=False)
    done = api.post(f"/v1/calls/{ended}/transfer", json={"to": "+15550100999"})
    assert done.status_code == 409 and done.json()["error"]["code"] == "call_not_live"
