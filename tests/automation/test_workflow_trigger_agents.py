"""Workflow triggers name agents of the tenant or are refused with 422 naming the field
(issue 11, item 6): a trigger for an agent that does not exist, was deleted or belongs to
another tenant would silently never fire."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from tests.automation.api_app import Api, automation_api
from tests.automation.helpers import make_agent
from tests.automation.workflow_helpers import FAST

from aybiza.security.secretbox import HmacSecretBox
from aybiza.store.database import Database
from aybiza.store.models import Agent

AGENT = {"name": "Support", "system_prompt": "You help."}


def _workflow(agent_ids: list[str], name: str = "after calls") -> dict[str, Any]:
    return {
        "name": name,
        "trigger": {"event": "call.ended", "agent_ids": agent_ids},
        "steps": [{"id": "push", "type": "http", "url": "https://crm.example.com/calls"}],
    }


@pytest.fixture
async def api(database: Database, box: HmacSecretBox) -> AsyncIterator[Api]:
    async with automation_api(database, box, FAST) as app:
        yield app


async def test_item6_a_trigger_naming_a_missing_agent_is_refused_with_422(
    api: Api, database: Database
) -> None:
    tenant = await api.tenant()
    own = await make_agent(database, tenant.id, AGENT)
    async with api.client(tenant.key) as client:
        missing = "0" * 32
        response = await client.post("/v1/workflows", json=_workflow([own.agent_id, missing]))
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["error"]["code"] == "invalid_workflow"
        assert body["error"]["field"] == "trigger.agent_ids.1"
        assert body["errors"] == [
            {"field": "trigger.agent_ids.1", "message": "names no agent of this tenant"}
        ]
        assert (await client.get("/v1/workflows")).json()["data"] == []
        created = await client.post("/v1/workflows", json=_workflow([own.agent_id]))
        assert created.status_code == 201, created.text


async def test_item6_another_tenants_or_a_deleted_agent_is_refused_too(
    api: Api, database: Database
) -> None:
    tenant, other = await api.tenant(), await api.tenant()
    theirs = await make_agent(database, other.id, AGENT)
    deleted = await make_agent(database, tenant.id, AGENT)
    async with database.writing() as session:
        row = await session.get(Agent, deleted.agent_id)
        assert row is not None
        row.deleted_at = datetime.now(UTC)
    async with api.client(tenant.key) as client:
        response = await client.post(
            "/v1/workflows", json=_workflow([theirs.agent_id, deleted.agent_id, "not-an-id"])
        )
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == [
            "trigger.agent_ids.0",
            "trigger.agent_ids.1",
            "trigger.agent_ids.2",
        ]


async def test_item6_changing_a_trigger_to_a_missing_agent_is_refused(
    api: Api, database: Database
) -> None:
    tenant = await api.tenant()
    own = await make_agent(database, tenant.id, AGENT)
    async with api.client(tenant.key) as client:
        created = (await client.post("/v1/workflows", json=_workflow([own.agent_id]))).json()
        change = {"trigger": {"event": "call.ended", "agent_ids": ["f" * 32]}}
        response = await client.patch(f"/v1/workflows/{created['id']}", json=change)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == "trigger.agent_ids.0"
        kept = (await client.get(f"/v1/workflows/{created['id']}")).json()
        assert kept["trigger"]["agent_ids"] == [own.agent_id]
