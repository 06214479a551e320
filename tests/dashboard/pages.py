"""Helpers of the dashboard tests: people, and clients that sign in through the form."""

from __future__ import annotations

import re
import secrets

import httpx
from tests.api.conftest import ApiServer, Tenant

from aybiza.services.access import Access

PASSWORD = "correct horse battery staple"


def person(server: ApiServer, tenant: Tenant, role: str) -> str:
    """A person with ``role`` in ``tenant`` (password ``PASSWORD``); returns the email."""
    return person_in(server, tenant.id, role)


def person_in(server: ApiServer, tenant_id: str, role: str) -> str:
    """A person with ``role`` in the tenant ``tenant_id``; returns the email."""
    email = f"{role}-{secrets.token_hex(4)}@example.com"
    access: Access = server.app.state.access
    server.run(access.people.add(tenant_id, email, role, password=PASSWORD))
    return email


def browser(server: ApiServer, email: str, password: str = PASSWORD) -> httpx.Client:
    """A cookie-keeping client signed in through the sign-in form."""
    client = httpx.Client(base_url=server.base_url, timeout=30)
    server._clients.append(client)
    response = client.post("/sign-in", data={"email": email, "password": password, "next": "/"})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/"
    return client


def csrf(client: httpx.Client) -> str:
    """The session's CSRF token (the forms' hidden field; the cookie holds it)."""
    token = client.cookies.get("aybiza_csrf")
    assert token
    return token


def text_of(html: str) -> str:
    """The page's text without tags, spaces collapsed (for content checks)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
