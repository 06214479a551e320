"""The settings pages: API keys (shown once, never more than the person holds, revoke),
webhooks (add, the delivery log, "send again" delivering the same event anew), people
(invite with a link, change a role) and the audit log; roles without the permission get 403."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator

import pytest
from tests.api.conftest import ApiServer
from tests.api.receiver import Receiver
from tests.dashboard.pages import browser, csrf, person, text_of

from aybiza.store.models import WebhookDelivery


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    found.start()
    try:
        yield found
    finally:
        found.stop()


def test_a_key_is_shown_once_works_and_is_revoked(site: ApiServer) -> None:
    tenant = site.tenant()
    client = browser(site, person(site, tenant, "developer"))
    made = client.post(
        "/settings/keys",
        data={"name": "ci", "scopes": ["calls:read"], "csrf_token": csrf(client)},
    )
    assert made.status_code == 200
    key = re.search(r'<code id="new-key">([^<]+)</code>', made.text)
    assert key is not None
    api = site.client(key.group(1))
    assert api.get("/v1/calls").status_code == 200
    assert api.get("/v1/agents").status_code == 403
    # A developer cannot hand out what their role lacks.
    refused = client.post(
        "/settings/keys", data={"name": "all", "scopes": ["*"], "csrf_token": csrf(client)}
    )
    assert refused.status_code == 422 and "does not hold itself" in refused.text
    key_id = re.search(r'action="/settings/keys/([0-9a-f]{32})/revoke"', made.text)
    assert key_id is not None
    revoked = client.post(
        f"/settings/keys/{key_id.group(1)}/revoke", data={"csrf_token": csrf(client)}
    )
    assert revoked.status_code == 303
    assert api.get("/v1/calls").status_code == 401


def test_a_failed_delivery_is_sent_again(site: ApiServer, receiver: Receiver) -> None:
    tenant = site.tenant()
    client = browser(site, person(site, tenant, "admin"))
    added = client.post(
        "/settings/webhooks",
        data={"url": receiver.url, "events": ["call.ended"], "csrf_token": csrf(client)},
    )
    assert added.status_code == 200, added.text
    secret = re.search(r"signing secret \(shown once\): (\S+)</p>", added.text)
    assert secret is not None
    receiver.secrets.append(secret.group(1))
    endpoint_id = site.run(_endpoint_id(site, tenant.id))
    event_id = secrets.token_hex(16)
    delivery_id = site.run(_failed_delivery(site, tenant.id, endpoint_id, event_id))
    page = client.get("/settings/webhooks")
    assert f'data-delivery-id="{delivery_id}"' in page.text and "failed" in page.text
    again = client.post(
        f"/settings/webhooks/{endpoint_id}/deliveries/{delivery_id}/send-again",
        data={"csrf_token": csrf(client)},
    )
    assert again.status_code == 303
    [received] = receiver.wait_for(1, "call.ended")
    assert received.body["id"] == event_id
    # The API route does the same for a key holder; another tenant's delivery is not found.
    other = site.tenant()
    response = site.client(other.key).post(
        f"/v1/webhooks/{endpoint_id}/deliveries/{delivery_id}/send-again"
    )
    assert response.status_code == 404


async def _endpoint_id(site: ApiServer, tenant_id: str) -> str:
    listed = await site.app.state.webhooks.list(tenant_id, cursor=None, limit=10)
    endpoint_id: str = listed.items[0].id
    return endpoint_id


async def _failed_delivery(site: ApiServer, tenant_id: str, endpoint_id: str, event_id: str) -> str:
    body = json.dumps({"id": event_id, "type": "call.ended", "data": {}})
    async with site.app.state.database.writing() as session:
        row = WebhookDelivery(
            tenant_id=tenant_id,
            endpoint_id=endpoint_id,
            event_id=event_id,
            event="call.ended",
            body=body,
            status="failed",
            attempts=4,
            last_error="connection refused",
        )
        session.add(row)
        await session.flush()
        return row.id


def test_people_are_invited_and_given_roles(site: ApiServer) -> None:
    tenant = site.tenant()
    client = browser(site, person(site, tenant, "owner"))
    analyst_email = person(site, tenant, "analyst")
    invited = client.post(
        "/settings/people/invite",
        data={
            "email": f"new-{tenant.name}@example.com",
            "role": "developer",
            "csrf_token": csrf(client),
        },
    )
    assert invited.status_code == 200
    link = re.search(r'<code id="invitation-link">([^<]+)</code>', invited.text)
    assert link is not None and "/invitations/accept?token=" in link.group(1)
    page = client.get("/settings/people")
    match = re.search(
        r'action="/settings/people/([0-9a-f]{32})/role"(?:(?!</form>).)*Role of '
        + re.escape(analyst_email),
        page.text,
        re.S,
    )
    assert match is not None
    changed = client.post(
        f"/settings/people/{match.group(1)}/role",
        data={"role": "developer", "csrf_token": csrf(client)},
    )
    assert changed.status_code == 303
    assert "developer" in text_of(client.get("/settings/people").text)
    audit = client.get("/settings/audit")
    assert audit.status_code == 200 and "invitation" in audit.text


def test_roles_without_the_permission_get_403(site: ApiServer) -> None:
    tenant = site.tenant()
    analyst = browser(site, person(site, tenant, "analyst"))
    for path in ("/settings/keys", "/settings/webhooks", "/settings/audit"):
        response = analyst.get(path)
        assert response.status_code == 403, path
        assert "lacks the permission" in text_of(response.text)
    assert analyst.get("/settings/people").status_code == 200
    refused = analyst.post(
        "/settings/people/invite",
        data={"email": "x@example.com", "role": "owner", "csrf_token": csrf(analyst)},
    )
    assert refused.status_code == 403
