"""Threat detection over the real API: sign-in lock-outs with backoff, a key used from a new
address range, a burst of 401/403 from one source; each an audit event and a signed
``security.alert`` webhook (issue 13, item 8). Client addresses other than 127.0.0.1 are other
loopback addresses (127.0.x.y) the test binds its client to."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.api.conftest import ApiServer, Tenant
from tests.api.receiver import Receiver
from tests.people.helpers import PASSWORD, add_person


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


def _subscribe(server: ApiServer, tenant: Tenant, receiver: Receiver) -> None:
    response = server.client(tenant.key).post(
        "/v1/webhooks", json={"url": receiver.url, "events": ["security.alert"]}
    )
    assert response.status_code == 201, response.text
    receiver.secrets.append(response.json()["secret"])


def _from(server: ApiServer, address: str, key: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    client = httpx.Client(
        base_url=server.base_url,
        headers=headers,
        transport=httpx.HTTPTransport(local_address=address),
    )
    server._clients.append(client)
    return client


def _audit(server: ApiServer, tenant: Tenant, action: str) -> list[dict[str, Any]]:
    response = server.client(tenant.key).get("/v1/audit-events", params={"action": action})
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["data"]
    return events


def test_repeated_wrong_passwords_lock_the_account_out_and_alert(
    server: ApiServer, receiver: Receiver
) -> None:
    tenant = server.tenant()
    _subscribe(server, tenant, receiver)
    email = add_person(server, tenant.id, "developer")
    client = _from(server, "127.0.2.1")
    for _ in range(3):
        wrong = client.post("/v1/auth/sign-in", json={"email": email, "password": "guess " * 3})
        assert wrong.status_code == 401
    locked = client.post("/v1/auth/sign-in", json={"email": email, "password": PASSWORD})
    assert locked.status_code == 429, locked.text
    assert locked.json()["error"]["code"] == "locked"
    assert 1 <= int(locked.headers["retry-after"]) <= 30
    # From another address too: the account itself is locked.
    elsewhere = _from(server, "127.0.3.1")
    assert (
        elsewhere.post("/v1/auth/sign-in", json={"email": email, "password": PASSWORD}).status_code
        == 429
    )

    alert = receiver.wait_for(1, "security.alert")[0].body
    assert alert["type"] == "security.alert"
    assert alert["data"]["kind"] == "sign_in_lockout"
    assert alert["data"]["subject"] == {"type": "account", "account": email}
    assert alert["data"]["source_address"] == "127.0.2.1"
    events = _audit(server, tenant, "security.sign_in_lockout")
    assert len(events) == 1 and events[0]["details"]["details"]["failures"] == 3
    failures = _audit(server, tenant, "user.sign_in_failed")
    assert len(failures) == 3 and failures[0]["actor"]["address"] == "127.0.2.1"


def test_a_key_used_from_a_new_address_range_raises_an_alert(
    server: ApiServer, receiver: Receiver
) -> None:
    tenant = server.tenant()
    _subscribe(server, tenant, receiver)
    key = server.key(tenant, ("agents:read",))
    assert _from(server, "127.0.7.1", key).get("/v1/agents").status_code == 200
    assert _from(server, "127.0.7.200", key).get("/v1/agents").status_code == 200
    assert not receiver.accepted("security.alert")
    assert _from(server, "127.0.8.1", key).get("/v1/agents").status_code == 200
    alert = receiver.wait_for(1, "security.alert")[0].body["data"]
    assert alert["kind"] == "key_new_address_range"
    assert alert["details"] == {"network": "127.0.8.0/24", "known_networks": 1}
    assert alert["subject"]["prefix"] == key[:12]
    events = _audit(server, tenant, "security.key_new_address_range")
    assert events[0]["actor"]["kind"] == "key" and events[0]["actor"]["address"] == "127.0.8.1"


def test_a_burst_of_refusals_from_one_address_raises_an_alert(
    server: ApiServer, receiver: Receiver
) -> None:
    tenant = server.tenant()
    _subscribe(server, tenant, receiver)
    narrow = _from(server, "127.0.9.1", server.key(tenant, ("calls:read",)))
    for _ in range(4):
        assert narrow.get("/v1/agents").status_code == 403
    assert not receiver.accepted("security.alert")
    assert narrow.get("/v1/keys").status_code == 403
    alert = receiver.wait_for(1, "security.alert")[0].body["data"]
    assert alert["kind"] == "denied_burst" and alert["source_address"] == "127.0.9.1"
    assert alert["details"]["denied"] == 5 and alert["details"]["last_status"] == 403
    assert _audit(server, tenant, "security.denied_burst")


def test_a_burst_of_unknown_keys_goes_to_the_platform_log(server: ApiServer) -> None:
    spray = _from(server, "127.0.10.1")
    for attempt in range(5):
        spray.get("/v1/agents", headers={"Authorization": f"Bearer ayb_guess{attempt}"})

    async def platform_events() -> list[str]:
        return [line async for line in server.app.state.access.audit.export(None)]

    # The watch counts a refusal after its answer is sent: the alert lands a moment later.
    for _ in range(100):
        lines = server.run(platform_events())
        if any('"security.denied_burst"' in line and "127.0.10.1" in line for line in lines):
            break
        time.sleep(0.05)
    assert any('"security.denied_burst"' in line and "127.0.10.1" in line for line in lines)
