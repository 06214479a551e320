"""First start (outside production): a person who owns the ``demo`` tenant, so a newcomer can
sign in to the dashboard at once. The password is random, kept in ``<data dir>/demo-person``
(mode 0600) and printed by ``aybiza serve`` on start-up."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from aybiza.security.key_file import read_private_file, write_private_file
from aybiza.services.people import PeopleService, user_by_email
from aybiza.services.seed import DEMO_TENANT
from aybiza.store.database import Database
from aybiza.store.queries import tenant_by_name

DEMO_EMAIL = "demo@example.com"
DEMO_PERSON_FILE = "demo-person"


@dataclass(frozen=True, slots=True)
class DemoPerson:
    """The demo account; ``password`` is None when the person was made before and its file
    is gone (then it is whatever was set since)."""

    email: str
    password: str | None
    path: Path


async def seed_demo_person(database: Database, data_dir: Path) -> DemoPerson | None:
    """Make the demo person (owner of ``demo``) when missing; None when the demo tenant is
    missing."""
    path = data_dir / DEMO_PERSON_FILE
    async with database.session() as session:
        tenant = await tenant_by_name(session, DEMO_TENANT)
        existing = await user_by_email(session, DEMO_EMAIL)
    if tenant is None:
        return None
    if existing is not None:
        return DemoPerson(DEMO_EMAIL, read_private_file(path), path)
    password = secrets.token_urlsafe(12)
    await PeopleService(database).add(tenant.id, DEMO_EMAIL, "owner", password=password)
    write_private_file(path, password, replace=True)
    return DemoPerson(DEMO_EMAIL, password, path)
