"""The origin's side of the edge (docs/edge.md): ``/edge/keys`` and ``/edge/numbers`` for the
workers' replicas, events pushed when keys and published versions change, ``/readyz``
publishing the region and its load, and a region's Twilio URLs under ``/regions/<region>``."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from tests.api.conftest import OPERATOR_KEY, ApiServer, serve_api
from tests.api.edge_receiver import EdgeReceiver, running_edge_receiver
from tests.api.helpers import agent_body, create_agent, create_number

from aybiza.agents.demo import DEMO_PHONE_NUMBER
from aybiza.config import Settings

SECRET = "edge-secret-for-tests"


@pytest.fixture(scope="module")
def receiver() -> Iterator[EdgeReceiver]:
    with running_edge_receiver(SECRET) as running:
        yield running


@pytest.fixture(scope="module")
def region(receiver: EdgeReceiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """A server set up as region us-east-1 behind an edge (SQLite)."""

    def as_region(settings: Settings, base_url: str) -> Settings:
        return replace(
            settings,
            public_url=base_url,
            region="us-east-1",
            capacity_calls=40,
            edge_secret=SECRET,
            edge_event_urls=(receiver.url,),
        )

    with serve_api("sqlite", tmp_path_factory.mktemp("region"), as_region) as server:
        yield server


def edge_get(
    server: ApiServer, path: str, secret: str | None = SECRET, **headers: str
) -> httpx.Response:
    if secret is not None:
        headers["Authorization"] = f"Bearer {secret}"
    return httpx.get(f"{server.base_url}{path}", headers=headers, timeout=10)


def test_keys_are_replicated_to_the_edge_with_hash_tenant_and_scopes(region: ApiServer) -> None:
    tenant = region.tenant(("agents:read", "calls:write"))
    key_hash = hashlib.sha256(tenant.key.encode()).hexdigest()
    response = edge_get(region, f"/edge/keys?prefix={key_hash[:2]}")
    assert response.status_code == 200
    keys = response.json()["keys"]
    mine = next(k for k in keys if k["hash"] == key_hash)
    assert mine["tenant_id"] == tenant.id
    assert mine["scopes"] == ["agents:read", "calls:write"]
    assert all(k["hash"].startswith(key_hash[:2]) for k in keys)


def test_the_operator_key_is_replicated_with_every_scope(region: ApiServer) -> None:
    operator_hash = hashlib.sha256(OPERATOR_KEY.encode()).hexdigest()
    keys = edge_get(region, "/edge/keys").json()["keys"]
    assert {"hash": operator_hash, "scopes": ["*"]}.items() <= next(
        k for k in keys if k["hash"] == operator_hash
    ).items()


def test_a_revoked_key_is_left_out_and_pushed_as_revoked(
    region: ApiServer, receiver: EdgeReceiver
) -> None:
    tenant = region.tenant(("*",))
    key_hash = hashlib.sha256(tenant.key.encode()).hexdigest()
    key_id = region.client(tenant.key).get("/v1/tenant").json()["key_id"]
    created = {"hash": key_hash, "key_id": key_id, "tenant_id": tenant.id, "scopes": ["*"]}
    receiver.wait_for({"type": "key.created", "key": created})
    http = region.client(tenant.key)
    assert http.delete(f"/v1/keys/{key_id}").status_code == 200
    receiver.wait_for({"type": "key.revoked", "key_hash": key_hash})
    keys = edge_get(region, f"/edge/keys?prefix={key_hash[:4]}").json()["keys"]
    assert key_hash not in [k["hash"] for k in keys]
    assert receiver.refused == 0


def test_an_unchanged_table_is_answered_304(region: ApiServer) -> None:
    first = edge_get(region, "/edge/numbers")
    etag = first.headers["etag"]
    again = edge_get(region, "/edge/numbers", **{"If-None-Match": etag})
    assert again.status_code == 304
    assert again.headers["etag"] == etag


def test_numbers_are_replicated_with_region_and_fallback_region(region: ApiServer) -> None:
    tenant = region.tenant(("*",))
    http = region.client(tenant.key)
    agent = create_agent(http)
    number = create_number(http, agent["id"], region="eu-west-1", fallback_region="us-east-1")
    numbers = edge_get(region, "/edge/numbers").json()["numbers"]
    assert {
        "e164": number["number"],
        "region": "eu-west-1",
        "fallback_region": "us-east-1",
    } in numbers
    assert any(n["e164"] == DEMO_PHONE_NUMBER for n in numbers)


def test_the_edge_tables_need_the_edge_secret(region: ApiServer, api: ApiServer) -> None:
    for secret in (None, "wrong"):
        response = edge_get(region, "/edge/keys", secret)
        assert response.status_code == 401
        assert response.json()["error"]["field"] == "Authorization"
    # A server without AYBIZA_EDGE_SECRET has no such routes.
    assert edge_get(api, "/edge/numbers").status_code == 404


def test_a_bad_prefix_is_refused_naming_it(region: ApiServer) -> None:
    response = edge_get(region, "/edge/keys?prefix=XYZ")
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "prefix"


def test_publishing_pushes_the_version_and_deleting_purges_it(
    region: ApiServer, receiver: EdgeReceiver
) -> None:
    tenant = region.tenant(("*",))
    http = region.client(tenant.key)
    agent = create_agent(http)
    changed = http.put(f"/v1/agents/{agent['id']}", json=agent_body(greeting="Hi"))
    assert changed.status_code == 200
    version = changed.json()["version"]
    assert http.post(f"/v1/agents/{agent['id']}/publish", json={"version": version}).is_success
    published = {"type": "agent.published", "tenant_id": tenant.id, "agent_id": agent["id"]}
    receiver.wait_for({**published, "version": version})
    assert http.delete(f"/v1/agents/{agent['id']}").status_code == 204
    receiver.wait_for({**published, "version": None})


def test_the_published_version_is_served_apart_from_the_latest(region: ApiServer) -> None:
    http = region.client(region.tenant(("*",)).key)
    agent = create_agent(http)
    changed = http.put(f"/v1/agents/{agent['id']}", json=agent_body(greeting="Hello there"))
    assert changed.json()["version"] != agent["version"]
    published = http.get(f"/v1/agents/{agent['id']}/published")
    assert published.status_code == 200
    assert published.json()["version"] == agent["version"]
    assert published.json()["published"] is True
    reader = region.client(region.tenant(("calls:read",)).key)
    assert reader.get(f"/v1/agents/{agent['id']}/published").status_code == 403


def test_readyz_publishes_the_region_and_its_load(region: ApiServer) -> None:
    body = httpx.get(f"{region.base_url}/readyz", timeout=5).json()
    assert body["region"] == "us-east-1"
    assert body["load"] == {"live_calls": 0, "capacity": 40, "ratio": 0.0}


def test_a_regions_twilio_urls_name_the_region(region: ApiServer) -> None:
    form = {"CallSid": "CA" + "e" * 32, "From": "+15558675310", "To": DEMO_PHONE_NUMBER}
    answer = region.twilio.post("/twilio/voice", data=form)
    assert answer.status_code == 200
    host = region.base_url.removeprefix("http://")
    assert f'url="ws://{host}/regions/us-east-1/twilio/stream"' in answer.text
    assert f'action="http://{host}/regions/us-east-1/twilio/connect-action"' in answer.text
    # The same routes answer under the region's prefix (the edge sends a call's requests there).
    status = region.twilio.post(
        "/regions/us-east-1/twilio/status", data={**form, "CallStatus": "completed"}
    )
    assert status.status_code == 204
    assert region.twilio.post("/regions/us-west-2/twilio/status", data=form).status_code == 404


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("AYBIZA_REGION", "US East", "AYBIZA_REGION must be lower-case letters"),
        ("AYBIZA_CAPACITY_CALLS", "0", "AYBIZA_CAPACITY_CALLS must be a whole number >= 1"),
        ("AYBIZA_CAPACITY_CALLS", "lots", "AYBIZA_CAPACITY_CALLS must be a whole number >= 1"),
        ("AYBIZA_EDGE_EVENT_URLS", "edge.example.com", "AYBIZA_EDGE_EVENT_URLS: 'edge.exa"),
    ],
)
def test_bad_edge_settings_are_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message):
        Settings.from_env()
