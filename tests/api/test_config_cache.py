"""The configuration cache of call starts (``aybiza.store.config_cache``): a change made through
the API in this process reaches the very next call, although the number's configuration was
cached by the call before it."""

from __future__ import annotations

from tests.api.conftest import OPERATOR_KEY, ApiServer
from tests.api.helpers import agent_body, create_agent, create_number, ring


def test_a_change_through_the_api_reaches_the_next_call_at_once(api: ApiServer) -> None:
    http = api.client(api.tenant(max_concurrent_calls=100).key)
    agent = create_agent(http, agent_body(version="1.0.0"))
    number = create_number(http, agent["id"])
    cache = api.app.state.database.config

    first = ring(api.twilio, number["number"])
    assert first.parameter("agent_version") == "1.0.0"
    hits = cache.hits
    again = ring(api.twilio, number["number"])
    assert again.parameter("agent_version") == "1.0.0"
    assert cache.hits > hits, "the second call's configuration came from the cache"

    published = http.put(
        f"/v1/agents/{agent['id']}",
        params={"publish": "true"},
        json=agent_body(version="2.0.0", system_prompt="Version two."),
    )
    assert published.status_code == 200, published.text
    assert ring(api.twilio, number["number"]).parameter("agent_version") == "2.0.0"

    pinned = http.patch(f"/v1/phone-numbers/{number['id']}", json={"agent_version": "1.0.0"})
    assert pinned.status_code == 200, pinned.text
    assert ring(api.twilio, number["number"]).parameter("agent_version") == "1.0.0"

    released = http.delete(f"/v1/phone-numbers/{number['id']}")
    assert released.status_code == 204, released.text
    gone = ring(api.twilio, number["number"])
    assert not gone.streams
    operator = api.client(OPERATOR_KEY).get(f"/v1/calls/{gone.call_sid}")
    assert operator.status_code == 200, operator.text
    assert operator.json()["ended_reason"] == "unknown-number"
