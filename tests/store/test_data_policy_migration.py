"""Migration 0320 names the call of every webhook delivery queued before it (from the body it
was queued with), so erasing a caller deletes those too; a body that is not JSON is left."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from sqlalchemy import text

from aybiza.store.database import Database
from aybiza.store.migrate import downgrade_to, upgrade_to_head

_ROWS = [
    ("d1", "call.ended", json.dumps({"type": "call.ended", "data": {"id": "c" * 32}})),
    ("d2", "transcript.final", json.dumps({"data": {"call_id": "d" * 32, "text": "hi"}})),
    ("d3", "call.started", "ag1.not-json-a-sealed-body"),
    ("d4", "security.alert", json.dumps({"data": {"id": "e" * 32}})),
]


async def _delivery_calls(url: str) -> dict[str, str | None]:
    database = Database(url)
    try:
        await upgrade_to_head(database)
        await downgrade_to(database, "0240")
        async with database.writing() as session:
            await session.execute(
                text(
                    "INSERT INTO tenants (id, name, max_concurrent_calls, created_at) "
                    "VALUES ('t', 't', 1, :at)"
                ),
                {"at": "2026-01-01 00:00:00"},
            )
            await session.execute(
                text(
                    "INSERT INTO webhook_endpoints (id, tenant_id, url, events, description, "
                    "enabled, secret_sealed, created_at, updated_at) VALUES ('e', 't', "
                    "'http://127.0.0.1:9/', '[]', '', true, 'x', :at, :at)"
                ),
                {"at": "2026-01-01 00:00:00"},
            )
            for delivery_id, event, body in _ROWS:
                await session.execute(
                    text(
                        "INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_id, "
                        "event, body, status, attempts, next_attempt_at, created_at) VALUES "
                        "(:id, 't', 'e', :id, :event, :body, 'delivered', 1, :at, :at)"
                    ),
                    {"id": delivery_id, "event": event, "body": body, "at": "2026-01-01"},
                )
        await upgrade_to_head(database)
        async with database.session() as session:
            rows = await session.execute(text("SELECT id, call_id FROM webhook_deliveries"))
            return {row.id: row.call_id for row in rows}
    finally:
        await database.dispose()


def test_deliveries_queued_before_the_migration_name_their_call(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'before.db'}"
    assert asyncio.run(_delivery_calls(url)) == {
        "d1": "c" * 32,
        "d2": "d" * 32,
        "d3": None,
        "d4": None,
    }
