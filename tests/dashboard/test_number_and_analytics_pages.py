"""The numbers page (add a SIP trunk number, route it to another agent; a bad field named)
and the analytics page (figures, SVG chart and CSV links from the same service as
``/v1/analytics``)."""

from __future__ import annotations

import re

from tests.api.conftest import ApiServer
from tests.api.helpers import agent_body, create_agent, new_e164
from tests.dashboard.calls import add_call
from tests.dashboard.pages import browser, csrf, person, text_of


def test_a_sip_trunk_number_is_added_and_routed(site: ApiServer) -> None:
    tenant = site.tenant()
    api = site.client(tenant.key)
    first = create_agent(api, agent_body("First desk"))
    second = create_agent(api, agent_body("Second desk"))
    client = browser(site, person(site, tenant, "developer"))
    e164 = new_e164()
    added = client.post(
        "/numbers",
        data={
            "type": "sip_trunk",
            "number": e164,
            "gateway": "sip.example.com:5060",
            "agent_id": first["id"],
            "csrf_token": csrf(client),
        },
    )
    assert added.status_code == 303, added.text
    numbers = api.get("/v1/phone-numbers").json()["data"]
    [row] = [n for n in numbers if n["number"] == e164]
    assert row["agent_id"] == first["id"] and row["type"] == "sip_trunk"
    routed = client.post(
        f"/numbers/{row['id']}/route", data={"agent_id": second["id"], "csrf_token": csrf(client)}
    )
    assert routed.status_code == 303
    assert api.get(f"/v1/phone-numbers/{row['id']}").json()["agent_id"] == second["id"]
    bad = client.post(
        "/numbers",
        data={
            "type": "sip_trunk",
            "number": "12",
            "gateway": "sip.example.com",
            "agent_id": first["id"],
            "csrf_token": csrf(client),
        },
    )
    assert bad.status_code == 422 and re.search(r'id="number-error">number: ', bad.text)


def test_the_analytics_page_shows_the_services_figures(site: ApiServer) -> None:
    tenant = site.tenant()
    add_call(site, tenant.id, live=False)
    add_call(site, tenant.id, live=False)
    client = browser(site, person(site, tenant, "analyst"))
    page = client.get("/analytics")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "2 calls" in text
    assert '<svg class="chart"' in page.text and 'aria-label="Calls per hour"' in page.text
    assert "voice_to_voice 2 612.0 612.0 612.0" in text
    csv_link = re.search(r'href="(/v1/analytics/calls\?[^"]+)"', page.text)
    assert csv_link is not None
    exported = client.get(csv_link.group(1).replace("&amp;", "&"))
    assert exported.status_code == 200 and exported.text.startswith("key,label,calls")
    overview = text_of(client.get("/").text)
    assert "2 calls today" in overview and "612.0 ms voice-to-voice p50" in overview
    bad = client.get("/analytics", params={"agent_id": "nope"})
    assert bad.status_code == 422 and "agent_id" in bad.text
