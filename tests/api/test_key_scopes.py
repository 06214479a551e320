"""A key can only revoke keys whose scopes it holds itself (issue 11, item 5)."""

from __future__ import annotations

from typing import Any

import httpx
from tests.api.conftest import ApiServer, Tenant


def _row(admin: httpx.Client, secret: str) -> dict[str, Any]:
    keys: list[dict[str, Any]] = admin.get("/v1/keys").json()["data"]
    return next(k for k in keys if secret.startswith(k["prefix"]))


def test_item5_a_key_cannot_revoke_a_key_with_scopes_it_lacks(
    api: ApiServer, tenant: Tenant
) -> None:
    limited = api.client(api.key(tenant, ("keys:write", "agents:write")))
    full_key = tenant.key
    full = _row(limited, full_key)
    response = limited.delete(f"/v1/keys/{full['id']}")
    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "scope_exceeded",
        "message": "a key cannot revoke a key holding scopes it does not hold itself: *",
        "field": "id",
    }
    # Nothing changed: the full key still works and is not revoked.
    assert _row(limited, full_key)["revoked_at"] is None
    assert api.client(full_key).get("/v1/tenant").status_code == 200

    calls_reader = api.key(tenant, ("calls:read",))
    refused = limited.delete(f"/v1/keys/{_row(limited, calls_reader)['id']}")
    assert refused.status_code == 403
    assert refused.json()["error"]["message"].endswith(": calls:read")
    assert api.client(calls_reader).get("/v1/calls").status_code == 200


def test_a_key_may_revoke_keys_within_its_scopes(api: ApiServer, tenant: Tenant) -> None:
    limited = api.client(api.key(tenant, ("keys:write", "agents:write")))
    reader = api.key(tenant, ("agents:read",))
    writer = api.key(tenant, ("agents:write", "keys:write"))
    for secret in (reader, writer):
        response = limited.delete(f"/v1/keys/{_row(limited, secret)['id']}")
        assert response.status_code == 200, response.text
        assert api.client(secret).get("/v1/tenant").status_code == 401
    # A full key revokes anything.
    narrow = api.key(tenant, ("calls:read",))
    admin = api.client(tenant.key)
    assert admin.delete(f"/v1/keys/{_row(admin, narrow)['id']}").status_code == 200
