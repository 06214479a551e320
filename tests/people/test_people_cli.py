"""``aybiza users`` and ``aybiza audit`` as an operator runs them, against the running server's
database: people added sign in, invitation links work, and ``audit verify`` catches a tampered
and a deleted event."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy import text
from tests.api.conftest import ApiServer
from tests.people.helpers import PASSWORD, drop_append_only_triggers, new_email, sign_in

from aybiza.store.database import Database


def _cli(server: ApiServer, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AYBIZA_DATABASE_URL": server.database_url,
        "AYBIZA_DATA_DIR": str(server.data_dir),
    }
    aybiza = Path(sys.executable).parent / "aybiza"
    return subprocess.run(
        [str(aybiza), *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_users_add_list_role_remove(server: ApiServer) -> None:
    tenant = server.tenant()
    email = new_email("ops")
    added = _cli(
        server,
        "users",
        "add",
        email,
        "--tenant",
        tenant.name,
        "--role",
        "admin",
        "--name",
        "Ops",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert added.returncode == 0, added.stderr
    client = sign_in(server, email)
    assert client.get("/v1/auth/me").json()["tenant"]["role"] == "admin"
    listed = _cli(server, "users", "list", "--tenant", tenant.name)
    assert email in listed.stdout and "admin" in listed.stdout
    changed = _cli(server, "users", "role", email, "analyst", "--tenant", tenant.name)
    assert changed.returncode == 0, changed.stderr
    assert client.get("/v1/auth/me").json()["tenant"]["role"] == "analyst"
    bad = _cli(server, "users", "role", email, "emperor", "--tenant", tenant.name)
    assert bad.returncode == 2 and "emperor" in bad.stderr
    weak = _cli(
        server,
        "users",
        "add",
        new_email(),
        "--tenant",
        tenant.name,
        "--role",
        "analyst",
        "--password-stdin",
        stdin="short\n",
    )
    assert weak.returncode == 2 and "password" in weak.stderr
    removed = _cli(server, "users", "remove", email, "--tenant", tenant.name)
    assert removed.returncode == 0, removed.stderr
    assert client.get("/v1/agents").status_code == 401
    audit = server.client(tenant.key).get("/v1/audit-events", params={"action": "membership."})
    actors = {event["actor"]["kind"] for event in audit.json()["data"]}
    assert actors == {"cli"}


def test_users_invite_prints_a_working_link(server: ApiServer) -> None:
    tenant = server.tenant()
    email = new_email("invitee")
    invited = _cli(
        server,
        "users",
        "invite",
        email,
        "--tenant",
        tenant.name,
        "--role",
        "billing",
        "--base-url",
        server.base_url,
    )
    assert invited.returncode == 0, invited.stderr
    link = invited.stdout.strip()
    assert link.startswith(f"{server.base_url}/invitations/accept?token=")
    joined = httpx.post(
        f"{server.base_url}/v1/auth/invitations/accept",
        json={"token": link.partition("token=")[2], "password": PASSWORD},
    )
    assert joined.status_code == 200, joined.text
    assert joined.json()["tenant"]["role"] == "billing"
    assert "billing:read" in joined.json()["permissions"]


def test_audit_verify_catches_an_edited_and_a_deleted_event(server: ApiServer) -> None:
    tenant = server.tenant()
    admin = server.client(tenant.key)
    for name in ("one", "two", "three"):
        assert (
            admin.post("/v1/agents", json={"name": name, "system_prompt": "Hi."}).status_code == 201
        )
    intact = _cli(server, "audit", "verify", "--tenant", tenant.name)
    assert intact.returncode == 0, intact.stderr
    assert "every link intact" in intact.stderr

    exported = _cli(server, "audit", "export", "--tenant", tenant.name)
    events = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
    assert events[1]["prev_hash"] == events[0]["hash"]
    edited, deleted = events[2], events[4]

    async def tamper() -> None:
        database = Database(server.database_url)
        try:
            await drop_append_only_triggers(database)
            async with database.writing() as session:
                await session.execute(
                    text("UPDATE audit_events SET action = 'agent.viewed' WHERE id = :id"),
                    {"id": edited["id"]},
                )
                await session.execute(
                    text("DELETE FROM audit_events WHERE id = :id"), {"id": deleted["id"]}
                )
        finally:
            await database.dispose()

    server.run(tamper())
    broken = _cli(server, "audit", "verify")
    assert broken.returncode == 1
    assert f"{tenant.id} #{edited['seq']}: edited" in broken.stderr
    assert f"{tenant.id} #{deleted['seq']}: missing" in broken.stderr


def test_audit_events_api_lists_and_exports_json_lines(server: ApiServer) -> None:
    tenant = server.tenant()
    admin = server.client(tenant.key)
    created = admin.post("/v1/agents", json={"name": "Audited", "system_prompt": "Hi."}).json()
    page = admin.get("/v1/audit-events", params={"target_id": created["id"]}).json()
    event = page["data"][0]
    assert event["action"] == "agent.created" and event["actor"]["kind"] == "key"
    assert event["actor"]["name"] == tenant.key[:12] and event["actor"]["address"] == "127.0.0.1"
    assert event["request"] == "POST /v1/agents"
    assert event["after"]["name"] == "Audited"
    export = admin.get("/v1/audit-events/export", params={"after_seq": 1})
    assert export.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in export.text.splitlines()]
    assert lines and lines[0]["seq"] == 2
    assert admin.get("/v1/audit-events", params={"action": "x y"}).status_code == 422
