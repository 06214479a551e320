"""``/v1/agents``: CRUD with the seed's agent JSON, validation errors naming JSON paths,
immutable versions, publish and rollback, paging."""

from __future__ import annotations

import httpx
from tests.api.conftest import ApiServer
from tests.api.helpers import agent_body, create_agent, create_number, demo_agent_body


def test_an_agent_is_created_read_listed_changed_and_deleted(http: httpx.Client) -> None:
    created = create_agent(http, demo_agent_body())
    assert created["version"] == created["published_version"] == "1.0.0"
    assert created["config"]["flow"]["start"] == "main"
    fetched = http.get(f"/v1/agents/{created['id']}").json()
    assert fetched == created
    listed = http.get("/v1/agents").json()
    assert [a["id"] for a in listed["data"]] == [created["id"]]
    assert "config" not in listed["data"][0]
    changed = http.put(
        f"/v1/agents/{created['id']}", json=demo_agent_body(name="ACME v2", version="1.1.0")
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "ACME v2" and changed.json()["version"] == "1.1.0"
    assert changed.json()["published_version"] == "1.0.0"
    assert http.delete(f"/v1/agents/{created['id']}").status_code == 204
    assert http.get(f"/v1/agents/{created['id']}").status_code == 404
    assert http.get("/v1/agents").json()["data"] == []


def test_validation_errors_list_every_bad_field_by_json_path(http: httpx.Client) -> None:
    body = {
        "name": "Bad",
        "system_prompt": "hi",
        "parameters": {"temperature": 3, "max_tokens": 0},
        "language": {"primary": "en-US", "supported": ["en-US", "english"]},
        "voice": {"colour": "blue"},
        "flow": {"start": "main", "nodes": {"main": {"type": "say", "text": "hi", "next": "gone"}}},
    }
    response = http.post("/v1/agents", json=body)
    assert response.status_code == 422
    payload = response.json()
    assert payload["error"]["code"] == "invalid_agent"
    fields = {problem["field"] for problem in payload["errors"]}
    assert {
        "parameters.temperature",
        "parameters.max_tokens",
        "language.supported.1",
        "voice.colour",
        "flow.nodes.main.next",
    } <= fields
    assert payload["error"]["field"] in fields
    assert all(problem["message"] for problem in payload["errors"])


def test_bodies_that_are_not_agent_objects_are_rejected(http: httpx.Client) -> None:
    not_json = http.post(
        "/v1/agents", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 422 and not_json.json()["error"]["code"] == "invalid_json"
    nan = http.post(
        "/v1/agents", content=b'{"name": NaN}', headers={"content-type": "application/json"}
    )
    assert nan.status_code == 422 and nan.json()["error"]["code"] == "invalid_json"
    listed = http.post("/v1/agents", json=[agent_body()])
    assert listed.status_code == 422 and listed.json()["error"]["field"] is None
    nul = http.post("/v1/agents", json=agent_body(greeting="a\x00b"))
    assert nul.status_code == 422 and nul.json()["errors"][0]["field"] == "greeting"
    missing = http.post("/v1/agents", json={"name": "No behaviour"})
    assert missing.json()["errors"][0]["field"] == "system_prompt"


def test_every_change_is_a_new_version_with_the_patch_bumped_when_needed(
    http: httpx.Client,
) -> None:
    agent = create_agent(http, agent_body(version="2.0.0"))
    path = f"/v1/agents/{agent['id']}"
    same = http.put(path, json=agent_body(version="2.0.0")).json()
    assert same["version"] == "2.0.0", "an identical configuration makes no version"
    bumped = http.put(path, json=agent_body(greeting="Hello!", version="2.0.0")).json()
    assert bumped["version"] == "2.0.1" and bumped["config"]["version"] == "2.0.1"
    unversioned = http.put(path, json=agent_body(greeting="Hi there")).json()
    assert unversioned["version"] == "2.0.2"
    older = http.put(path, json=agent_body(greeting="Howdy", version="1.5.0")).json()
    assert older["version"] == "2.0.3", "a version below the highest is never reused"
    explicit = http.put(path, json=agent_body(greeting="Yo", version="3.0.0-beta.1")).json()
    assert explicit["version"] == "3.0.0-beta.1"
    after_beta = http.put(path, json=agent_body(greeting="Hey")).json()
    assert after_beta["version"] == "3.0.0"
    versions = http.get(f"{path}/versions").json()["data"]
    assert [v["version"] for v in versions] == [
        "3.0.0",
        "3.0.0-beta.1",
        "2.0.3",
        "2.0.2",
        "2.0.1",
        "2.0.0",
    ]
    assert [v["published"] for v in versions] == [False] * 5 + [True]
    first = http.get(f"{path}/versions/2.0.0").json()
    assert "greeting" not in first["config"], "versions are immutable"


def test_publish_picks_the_live_version_and_rollback_publishes_an_earlier_one(
    http: httpx.Client,
) -> None:
    agent = create_agent(http)
    path = f"/v1/agents/{agent['id']}"
    http.put(path, json=agent_body(greeting="v2", version="1.1.0"))
    published = http.post(f"{path}/publish", json={"version": "1.1.0"})
    assert published.status_code == 200 and published.json()["published_version"] == "1.1.0"
    rolled_back = http.post(f"{path}/publish", json={"version": "1.0.0"}).json()
    assert rolled_back["published_version"] == "1.0.0" and rolled_back["version"] == "1.1.0"
    missing = http.post(f"{path}/publish", json={"version": "9.9.9"})
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "version"
    malformed = http.post(f"{path}/publish", json={"version": ""})
    assert malformed.status_code == 422 and malformed.json()["error"]["field"] == "version"
    at_once = http.put(f"{path}?publish=true", json=agent_body(greeting="v3")).json()
    assert at_once["published_version"] == at_once["version"] == "1.1.1"


def test_an_agent_a_number_routes_to_cannot_be_deleted(http: httpx.Client) -> None:
    agent = create_agent(http)
    number = create_number(http, agent["id"])
    refused = http.delete(f"/v1/agents/{agent['id']}")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "agent_in_use"
    assert number["number"] in refused.json()["error"]["message"]
    assert http.delete(f"/v1/phone-numbers/{number['id']}").status_code == 204
    assert http.delete(f"/v1/agents/{agent['id']}").status_code == 204


def test_lists_page_with_a_cursor_newest_first(api: ApiServer, http: httpx.Client) -> None:
    ids = [create_agent(http, agent_body(name=f"Agent {i}"))["id"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = http.get("/v1/agents", params=params).json()
        assert len(page["data"]) <= 2
        seen += [agent["id"] for agent in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    bad = http.get("/v1/agents", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "cursor"
    too_many = http.get("/v1/agents", params={"limit": 1000})
    assert too_many.status_code == 422 and too_many.json()["error"]["field"] == "limit"


def test_an_agent_forcing_an_engine_without_its_credentials_is_refused(
    http: httpx.Client,
) -> None:
    # The test server has no DEEPGRAM_API_KEY and no AWS credentials.
    body = agent_body() | {"engines": {"stt": "deepgram", "llm": "bedrock"}}
    response = http.post("/v1/agents", json=body)
    assert response.status_code == 422, response.text
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"engines.stt", "engines.llm"}
    assert "DEEPGRAM_API_KEY" in response.text
    # "auto" (the default) is always accepted: the embedded engines stand in.
    assert http.post("/v1/agents", json=agent_body()).status_code == 201
