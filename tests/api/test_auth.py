"""Bearer keys: 401 without a valid key, 403 naming the missing scope, revocation, scopes that
cannot be escalated, the operator key, and the key commands of the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
from tests.api.conftest import OPERATOR_KEY, ApiServer, Tenant
from tests.api.helpers import agent_body, create_agent


def _error(response: httpx.Response) -> dict[str, str]:
    error: dict[str, str] = response.json()["error"]
    return error


def test_a_request_without_a_key_is_answered_401_json(api: ApiServer) -> None:
    response = api.client(None).get("/v1/agents")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert _error(response) == {
        "code": "unauthorized",
        "message": "send the API key as Authorization: Bearer <key>",
        "field": "Authorization",
    }


def test_unknown_keys_and_other_schemes_are_answered_401(api: ApiServer) -> None:
    for header in ("Bearer ayb_not-a-key", "Basic dXNlcjpwYXNz", "Bearer", "ayb_x"):
        response = httpx.get(f"{api.base_url}/v1/calls", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert _error(response)["code"] == "unauthorized"


def test_a_revoked_key_is_refused_from_the_next_request(api: ApiServer, tenant: Tenant) -> None:
    spare = api.key(tenant, ("agents:read",))
    admin = api.client(tenant.key)
    keys = admin.get("/v1/keys").json()["data"]
    spare_row = next(k for k in keys if spare.startswith(k["prefix"]) and k["revoked_at"] is None)
    assert api.client(spare).get("/v1/agents").status_code == 200
    revoked = admin.delete(f"/v1/keys/{spare_row['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert api.client(spare).get("/v1/agents").status_code == 401
    assert admin.get("/v1/agents").status_code == 200


def test_a_missing_scope_is_answered_403_naming_it(api: ApiServer, tenant: Tenant) -> None:
    reader = api.client(api.key(tenant, ("agents:read",)))
    assert reader.get("/v1/agents").status_code == 200
    response = reader.post("/v1/agents", json=agent_body())
    assert response.status_code == 403
    assert _error(response)["code"] == "missing_scope"
    assert _error(response)["required_scope"] == "agents:write"
    assert "agents:write" in _error(response)["message"]
    assert reader.get("/v1/calls").json()["error"]["required_scope"] == "calls:read"
    assert reader.get("/v1/webhooks").json()["error"]["required_scope"] == "webhooks:write"
    assert reader.get("/v1/keys").json()["error"]["required_scope"] == "keys:write"


def test_a_write_scope_includes_reading_the_same_objects(api: ApiServer, tenant: Tenant) -> None:
    writer = api.client(api.key(tenant, ("agents:write",)))
    agent = create_agent(writer)
    assert writer.get(f"/v1/agents/{agent['id']}").status_code == 200
    assert writer.get("/v1/phone-numbers").status_code == 403


def test_a_key_cannot_create_a_key_with_more_scopes_than_it_has(
    api: ApiServer, tenant: Tenant
) -> None:
    limited = api.client(api.key(tenant, ("keys:write", "agents:write")))
    wider = limited.post("/v1/keys", json={"scopes": ["calls:read"]})
    assert wider.status_code == 422
    assert wider.json()["error"]["field"] == "scopes"
    everything = limited.post("/v1/keys", json={"scopes": ["*"]})
    assert everything.status_code == 422
    narrower = limited.post("/v1/keys", json={"scopes": ["agents:read"], "name": "ci"})
    assert narrower.status_code == 201, narrower.text
    created = narrower.json()
    assert created["key"].startswith(created["prefix"]) and created["scopes"] == ["agents:read"]
    listed = limited.get("/v1/keys").json()["data"]
    assert all("key" not in row for row in listed)
    assert created["id"] in {row["id"] for row in listed}


def test_unknown_scopes_are_rejected_with_their_position(api: ApiServer, tenant: Tenant) -> None:
    response = api.client(tenant.key).post("/v1/keys", json={"scopes": ["calls:read", "root"]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "scopes.1"


def test_the_operator_key_acts_for_the_demo_tenant(api: ApiServer) -> None:
    response = api.client(OPERATOR_KEY).get("/v1/tenant")
    assert response.status_code == 200
    assert response.json()["name"] == "demo" and response.json()["key_id"] is None


def test_the_demo_key_file_is_private_and_works(api: ApiServer) -> None:
    key_file = api.data_dir / "demo.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    demo = api.client(key_file.read_text().strip())
    agents = demo.get("/v1/agents").json()["data"]
    assert [a["name"] for a in agents] == ["ACME Support (demo)"]
    numbers = demo.get("/v1/phone-numbers").json()["data"]
    assert [n["number"] for n in numbers] == ["+15005550006"]


def _cli(api: ApiServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AYBIZA_DATABASE_URL": api.database_url,
        "AYBIZA_DATA_DIR": str(api.data_dir),
    }
    aybiza = Path(sys.executable).parent / "aybiza"
    return subprocess.run(
        [str(aybiza), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_keys_create_bootstraps_a_tenant_and_prints_its_key_once(api: ApiServer) -> None:
    name = f"cli-{os.getpid()}-{api.backend}"
    created = _cli(api, "keys", "create", "--tenant", name, "--scope", "agents:read")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("ayb_") and "\n" not in key
    client = api.client(key)
    assert client.get("/v1/tenant").json()["name"] == name
    assert client.post("/v1/agents", json=agent_body()).status_code == 403
    listed = _cli(api, "keys", "list", "--tenant", name)
    assert key[:12] in listed.stdout and key not in listed.stdout
    revoked = _cli(api, "keys", "revoke", "--tenant", name, key[:12])
    assert revoked.returncode == 0, revoked.stderr
    assert client.get("/v1/tenant").status_code == 401
