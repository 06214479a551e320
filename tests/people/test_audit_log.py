"""The audit log records every change to the platform's tables with its actor, masks secrets,
and its hash chains expose an edited or deleted event (issue 13, item 5)."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from tests.fakes.loopback import LOOPBACK_NETWORKS
from tests.people.helpers import drop_append_only_triggers

from aybiza.outbound.guard import Guard
from aybiza.security.secretbox import SecretBox
from aybiza.services.agents import AgentService
from aybiza.services.audit import AuditFilter, AuditLog
from aybiza.services.tenants import TenantService
from aybiza.services.webhooks import WebhookCreate, WebhookService
from aybiza.store.audit_log import Actor, acting
from aybiza.store.audit_models import AuditEvent
from aybiza.store.database import Database
from aybiza.store.models import ApiKey

ALICE = Actor("user", "alice@example.com", id="u" * 32, role="admin", address="127.0.0.9")


async def _events(database: Database, tenant_id: str) -> list[AuditEvent]:
    async with database.session() as session:
        rows = await session.execute(
            select(AuditEvent).where(AuditEvent.chain == tenant_id).order_by(AuditEvent.seq)
        )
        return list(rows.scalars())


async def _tenant(database: Database, name: str = "acme") -> str:
    return (await TenantService(database).ensure_tenant(name)).id


async def test_a_change_records_who_what_before_and_after(database: Database) -> None:
    tenant_id = await _tenant(database)
    agents = AgentService(database)
    with acting(ALICE):
        state = await agents.create(tenant_id, {"name": "Support", "system_prompt": "Help."})
        await agents.update(
            tenant_id, state.agent.id, {"name": "Sales", "system_prompt": "Sell."}, publish=True
        )
    events = await _events(database, tenant_id)
    actions = [event.action for event in events]
    assert actions[:1] == ["tenant.created"]
    assert actions[1:3] == ["agent.created", "agent_version.created"]
    assert "agent.updated" in actions
    updated = [event for event in events if event.action == "agent.updated"][-1]
    assert updated.actor_kind == "user" and updated.actor_name == "alice@example.com"
    assert updated.actor_role == "admin" and updated.source_address == "127.0.0.9"
    assert updated.target_id == state.agent.id and updated.tenant_id == tenant_id
    assert updated.before is not None and updated.after is not None
    assert updated.before["name"] == "Support" and updated.after["name"] == "Sales"
    assert updated.after["published_version"] == "1.0.1"
    # The tenant itself was made by the platform (no actor was set then).
    assert events[0].actor_kind == "system"


async def test_secrets_are_masked_in_the_log(database: Database, box: SecretBox) -> None:
    tenant_id = await _tenant(database)
    webhooks = WebhookService(database, box, Guard(LOOPBACK_NETWORKS))
    tenants = TenantService(database)
    with acting(ALICE):
        created = await webhooks.create(
            tenant_id, WebhookCreate(url="http://127.0.0.1:9/hook", events=["call.ended"])
        )
        issued = await tenants.create_key(tenant_id, ["calls:read"], name="reader")
        await AuditLog(database).record(
            "caller.erased",
            tenant_id=tenant_id,
            target_type="caller",
            details={"password": "hunter2", "Authorization": "Bearer x", "max_tokens": 5},
        )
    events = await _events(database, tenant_id)
    webhook = next(event for event in events if event.action == "webhook.created")
    assert webhook.after is not None and webhook.after["secret_sealed"] == "[masked]"
    assert webhook.after["url"] == "http://127.0.0.1:9/hook"
    key = next(event for event in events if event.action == "api_key.created")
    assert key.after is not None and key.after["key_hash"] == "[masked]"
    assert key.after["scopes"] == ["calls:read"]
    erased = events[-1]
    assert erased.details == {"password": "[masked]", "Authorization": "[masked]", "max_tokens": 5}
    everything = " ".join(str((e.before, e.after, e.details)) for e in events)
    for secret in (created.secret, issued.secret, issued.row.key_hash, "hunter2"):
        assert secret not in everything


async def test_revoking_a_key_is_recorded_as_a_revocation(database: Database) -> None:
    tenant_id = await _tenant(database)
    tenants = TenantService(database)
    issued = await tenants.create_key(tenant_id, ["*"])
    with acting(ALICE):
        await tenants.revoke_key(tenant_id, issued.row.id)
    revoked = (await _events(database, tenant_id))[-1]
    assert revoked.action == "api_key.revoked" and revoked.target_id == issued.row.id
    assert revoked.before == {"revoked_at": None}


async def test_a_change_that_rolls_back_leaves_no_event(database: Database) -> None:
    tenant_id = await _tenant(database)
    before = len(await _events(database, tenant_id))
    with pytest.raises(RuntimeError, match="abandon"):
        async with database.writing() as session:
            session.add(ApiKey(tenant_id=tenant_id, prefix="x", key_hash="y" * 64, scopes=[]))
            await session.flush()
            raise RuntimeError("abandon")
    assert len(await _events(database, tenant_id)) == before
    await TenantService(database).create_key(tenant_id, ["*"])
    assert len(await _events(database, tenant_id)) == before + 1
    assert (await AuditLog(database).verify()).intact


async def test_verify_finds_an_edited_and_a_deleted_event(database: Database) -> None:
    tenant_id = await _tenant(database)
    agents = AgentService(database)
    with acting(ALICE):
        for name in ("One", "Two", "Three"):
            await agents.create(tenant_id, {"name": name, "system_prompt": "Help."})
    log = AuditLog(database)
    intact = await log.verify()
    assert intact.intact and intact.events >= 7
    events = await _events(database, tenant_id)
    edited, deleted = events[2], events[4]
    await drop_append_only_triggers(database)
    async with database.writing() as session:
        await session.execute(
            text("UPDATE audit_events SET actor_name = 'mallory' WHERE id = :id"),
            {"id": edited.id},
        )
        await session.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": deleted.id})
    found = await log.verify()
    assert not found.intact
    kinds = {(problem.seq, problem.kind) for problem in found.problems}
    assert (edited.seq, "edited") in kinds
    assert (deleted.seq, "missing") in kinds
    assert all(problem.chain == tenant_id for problem in found.problems)


async def test_verify_finds_a_deleted_last_event(database: Database) -> None:
    tenant_id = await _tenant(database)
    with acting(ALICE):
        await AgentService(database).create(tenant_id, {"name": "A", "system_prompt": "Hi."})
    last = (await _events(database, tenant_id))[-1]
    await drop_append_only_triggers(database)
    async with database.writing() as session:
        await session.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": last.id})
    found = await AuditLog(database).verify(tenant_id)
    assert [(p.seq, p.kind) for p in found.problems] == [(last.seq, "missing")]


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events"]
)
async def test_the_table_refuses_updates_and_deletes(database: Database, statement: str) -> None:
    await _tenant(database)
    with pytest.raises(DBAPIError, match="append-only"):
        async with database.writing() as session:
            await session.execute(text(statement))
    assert (await AuditLog(database).verify()).intact


async def test_events_are_listed_newest_first_and_filtered(database: Database) -> None:
    tenant_id = await _tenant(database)
    agents = AgentService(database)
    with acting(ALICE):
        state = await agents.create(tenant_id, {"name": "A", "system_prompt": "Hi."})
        await agents.delete(tenant_id, state.agent.id)
    log = AuditLog(database)
    page = await log.list(tenant_id, AuditFilter(action="agent."), cursor=None, limit=10)
    assert [event.action for event in page.items] == ["agent.deleted", "agent.created"]
    by_target = await log.list(
        tenant_id, AuditFilter(target_id=state.agent.id), cursor=None, limit=1
    )
    assert len(by_target.items) == 1 and by_target.next_cursor is not None
    lines = [line async for line in log.export(tenant_id)]
    assert len(lines) == len(await _events(database, tenant_id))
    assert '"seq":1' in lines[0].replace(" ", "")
