"""The agents pages: list, create, the JSON editor with schema errors shown at their fields,
versions, diff, publish and rollback; analysts may look but not change; another tenant's
agent is not found."""

from __future__ import annotations

import json
import re

import httpx
from tests.api.conftest import ApiServer
from tests.dashboard.pages import browser, csrf, person, text_of


def _create(client: httpx.Client, name: str = "Front desk") -> str:
    config = json.dumps({"name": name, "system_prompt": "You help callers."}, indent=2)
    created = client.post("/agents", data={"config": config, "csrf_token": csrf(client)})
    assert created.status_code == 303, created.text
    match = re.fullmatch(r"/agents/([0-9a-f]{32})\?saved=1", created.headers["location"])
    assert match
    return match.group(1)


def test_an_agent_is_created_edited_published_and_rolled_back(site: ApiServer) -> None:
    tenant = site.tenant()
    client = browser(site, person(site, tenant, "developer"))
    agent_id = _create(client)
    page = client.get(f"/agents/{agent_id}")
    assert page.status_code == 200
    assert f'href="/agents/{agent_id}/talk"' in page.text
    assert '<label for="config">' in page.text
    changed = json.dumps({"name": "Front desk", "system_prompt": "Be brief."}, indent=2)
    saved = client.post(
        f"/agents/{agent_id}",
        data={"config": changed, "publish": "1", "csrf_token": csrf(client)},
    )
    assert saved.status_code == 303
    after = text_of(client.get(f"/agents/{agent_id}").text)
    assert "Latest version 1.0.1; published 1.0.1" in after
    assert "Roll back to 1.0.0" in after
    diff = client.get(f"/agents/{agent_id}/diff", params={"a": "1.0.0", "b": "1.0.1"})
    assert '<span class="add">+  &#34;system_prompt&#34;: &#34;Be brief.&#34;' in diff.text
    rolled = client.post(
        f"/agents/{agent_id}/publish", data={"version": "1.0.0", "csrf_token": csrf(client)}
    )
    assert rolled.status_code == 303
    assert "published 1.0.0" in text_of(client.get(f"/agents/{agent_id}").text)
    listed = client.get("/agents")
    assert "Front desk" in listed.text
    # The API sees the same state: one code path.
    api = client.get(f"/v1/agents/{agent_id}").json()
    assert api["published_version"] == "1.0.0"


def test_schema_errors_are_shown_at_their_fields(site: ApiServer) -> None:
    tenant = site.tenant()
    client = browser(site, person(site, tenant, "developer"))
    agent_id = _create(client)
    bad = '{\n  "name": "Front desk",\n  "system_prompt": "Hi",\n  "max_duration_s": -5\n}'
    response = client.post(f"/agents/{agent_id}", data={"config": bad, "csrf_token": csrf(client)})
    assert response.status_code == 422
    assert 'aria-invalid="true" aria-describedby="config-errors"' in response.text
    item = re.search(r'<li data-field="([^"]+)" data-line="(\d+)">', response.text)
    assert item is not None, response.text
    assert item.groups() == ("max_duration_s", "4")
    # The JSON is shown line by line with the error beside the line of its field.
    beside = re.search(r'<li value="4" class="has-error"><code>([^<]*)</code>', response.text)
    assert beside is not None and "max_duration_s" in beside.group(1)
    # What was typed stays in the editor; nothing was stored.
    assert "-5" in response.text
    assert client.get(f"/v1/agents/{agent_id}").json()["version"] == "1.0.0"
    broken = client.post(
        f"/agents/{agent_id}", data={"config": '{"name": ', "csrf_token": csrf(client)}
    )
    assert broken.status_code == 422 and 'data-field="(json)"' in broken.text


def test_an_analyst_sees_agents_but_cannot_change_them(site: ApiServer) -> None:
    tenant = site.tenant()
    owner = browser(site, person(site, tenant, "owner"))
    agent_id = _create(owner)
    analyst = browser(site, person(site, tenant, "analyst"))
    page = analyst.get(f"/agents/{agent_id}")
    assert page.status_code == 200 and "readonly" in page.text
    assert "Save as a new version" not in page.text
    refused = analyst.post(
        f"/agents/{agent_id}",
        data={"config": '{"name": "x", "system_prompt": "y"}', "csrf_token": csrf(analyst)},
    )
    assert refused.status_code == 403
    assert "agents:write" in refused.text


def test_another_tenants_agent_is_not_found(site: ApiServer) -> None:
    mine, theirs = site.tenant(), site.tenant()
    other = browser(site, person(site, theirs, "owner"))
    their_agent = _create(other, "Their desk")
    client = browser(site, person(site, mine, "owner"))
    assert client.get(f"/agents/{their_agent}").status_code == 404
    assert "Their desk" not in client.get("/agents").text
    publish = client.post(
        f"/agents/{their_agent}/publish", data={"version": "1.0.0", "csrf_token": csrf(client)}
    )
    assert publish.status_code == 404
