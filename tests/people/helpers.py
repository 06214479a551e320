"""Helpers of the people tests."""

from __future__ import annotations

import secrets

import httpx
from sqlalchemy import text
from tests.api.conftest import ApiServer

from aybiza.services.access import Access
from aybiza.store.database import Database


async def drop_append_only_triggers(database: Database) -> None:
    """What an intruder with the database's credentials can do: lift the append-only guard
    (to tamper with the log, which the hash chain must then expose)."""
    async with database.writing() as session:
        if database.is_sqlite:
            await session.execute(text("DROP TRIGGER audit_events_no_update"))
            await session.execute(text("DROP TRIGGER audit_events_no_delete"))
        else:
            await session.execute(text("DROP TRIGGER audit_events_append_only ON audit_events"))


PASSWORD = "correct horse battery staple"


def new_email(label: str = "person") -> str:
    """A fresh address (people are unique across tenants)."""
    return f"{label}-{secrets.token_hex(4)}@example.com"


def add_person(server: ApiServer, tenant_id: str, role: str, email: str | None = None) -> str:
    """A person with ``role`` in the tenant and the password ``PASSWORD``; returns the email."""
    address = email or new_email(role)
    access: Access = server.app.state.access
    server.run(access.people.add(tenant_id, address, role, password=PASSWORD))
    return address


def sign_in(
    server: ApiServer,
    email: str,
    password: str = PASSWORD,
    *,
    tenant: str | None = None,
    local_address: str | None = None,
) -> httpx.Client:
    """A browser-like client signed in as ``email``, sending the CSRF token on every request."""
    transport = httpx.HTTPTransport(local_address=local_address) if local_address else None
    client = httpx.Client(base_url=server.base_url, timeout=30, transport=transport)
    server._clients.append(client)
    body = {"email": email, "password": password, **({"tenant": tenant} if tenant else {})}
    response = client.post("/v1/auth/sign-in", json=body)
    assert response.status_code == 200, response.text
    client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
    return client
