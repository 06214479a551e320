"""``/v1/tools``: per-tenant CRUD with the API's keys and scopes, header values write-only,
the signing secret shown once, and every invalid field named."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.automation.api_app import Api, automation_api

from aybiza.security.secretbox import HmacSecretBox
from aybiza.store.database import Database

TOOL: dict[str, Any] = {
    "name": "book_table",
    "description": "Book a table at the restaurant.",
    "parameters": {
        "type": "object",
        "properties": {"date": {"type": "string"}, "party_size": {"type": "integer"}},
        "required": ["date"],
    },
    "options": {
        "url": "https://bookings.example.com/tools/book",
        "headers": {"Authorization": "Bearer s3cr3t"},
        "idempotent": True,
        "retries": 2,
        "speak_during_execution": "Let me check that for you.",
    },
}


@pytest.fixture
async def api(database: Database, box: HmacSecretBox) -> AsyncIterator[Api]:
    async with automation_api(database, box) as app:
        yield app


async def test_a_tool_is_created_listed_changed_and_deleted_by_its_tenant(api: Api) -> None:
    tenant = await api.tenant()
    async with api.client(tenant.key) as client:
        created = await client.post("/v1/tools", json=TOOL)
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["secret"].startswith("whsec_")
        assert body["headers"] == ["Authorization"]
        assert "s3cr3t" not in created.text.replace(body["secret"], "")
        tool_id = body["id"]
        listed = (await client.get("/v1/tools")).json()
        assert [t["name"] for t in listed["data"]] == ["book_table"]
        assert "secret" not in listed["data"][0]
        changed = await client.patch(
            f"/v1/tools/{tool_id}",
            json={
                "description": "Book or move a table.",
                "options": {**TOOL["options"], "headers": None},
            },
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["description"] == "Book or move a table."
        assert changed.json()["headers"] == ["Authorization"]  # left out: kept
        rotated = await client.post(f"/v1/tools/{tool_id}/rotate-secret")
        assert rotated.json()["secret"] not in (body["secret"], None)
        assert (await client.delete(f"/v1/tools/{tool_id}")).status_code == 204
        assert (await client.get(f"/v1/tools/{tool_id}")).status_code == 404


async def test_another_tenants_tool_is_not_found_and_names_are_per_tenant(api: Api) -> None:
    owner, other = await api.tenant(), await api.tenant()
    async with api.client(owner.key) as mine, api.client(other.key) as theirs:
        tool_id = (await mine.post("/v1/tools", json=TOOL)).json()["id"]
        for response in (
            await theirs.get(f"/v1/tools/{tool_id}"),
            await theirs.patch(f"/v1/tools/{tool_id}", json={"description": "x"}),
            await theirs.delete(f"/v1/tools/{tool_id}"),
        ):
            assert response.status_code == 404
        assert (await theirs.post("/v1/tools", json=TOOL)).status_code == 201
        duplicate = await mine.post("/v1/tools", json=TOOL)
        assert duplicate.status_code == 409 and duplicate.json()["error"]["field"] == "name"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"options": {"retries": 2}}, "options.retries", "idempotent"),
        ({"options": {}}, "options.url", "need the URL"),
        ({"options": {"url": "ftp://x.example.com"}}, "options.url", "http(s) URL"),
        ({"parameters": {"type": "string"}}, "parameters", '"type": "object"'),
        ({"parameters": {"type": "object", "properties": 3}}, "parameters", "valid JSON Schema"),
        (
            {"parameters": {"type": "object", "properties": {"a": {"$ref": "https://x.io/s"}}}},
            "parameters",
            "only use local references",
        ),
        ({"name": "send_sms"}, "kind", "built-in"),
        ({"name": "end_call", "kind": "end_call"}, "parameters", "own arguments schema"),
        ({"options": {"url": "https://x.example.com", "timeout_s": 99}}, "options.timeout_s", ""),
        (
            {"options": {"url": "https://x.example.com", "headers": {"Content-Type": "x"}}},
            "options.headers.Content-Type",
            "set by the platform",
        ),
    ],
)
async def test_invalid_definitions_are_refused_naming_the_field(
    api: Api, change: dict[str, object], field: str, message: str
) -> None:
    tenant = await api.tenant()
    async with api.client(tenant.key) as client:
        response = await client.post("/v1/tools", json={**TOOL, **change})
    assert response.status_code == 422, response.text
    fields = {problem["field"]: problem["message"] for problem in response.json()["errors"]}
    assert field in fields, fields
    assert message in fields[field]


async def test_scopes_reading_needs_agents_read_and_writing_agents_write(api: Api) -> None:
    reader = await api.tenant(("agents:read",))
    async with api.client(reader.key) as client:
        assert (await client.get("/v1/tools")).status_code == 200
        refused = await client.post("/v1/tools", json=TOOL)
        assert refused.status_code == 403
        assert refused.json()["error"]["required_scope"] == "agents:write"
        builtins = (await client.get("/v1/tools/builtins")).json()
        assert {b["name"] for b in builtins} == {"send_dtmf", "send_sms", "collect_digits"}
    async with api.client("ayb_not-a-key") as client:
        assert (await client.get("/v1/tools")).status_code == 401
