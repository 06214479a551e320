"""``make run``'s demo account: made once on first start (owner of ``demo``), its password
kept owner-only in the data directory, and it signs in to the dashboard."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from aybiza.cli import dashboard_lines
from aybiza.config import AccessSettings
from aybiza.security.secretbox import AesGcmSecretBox
from aybiza.services.access import Access
from aybiza.services.demo_person import DEMO_EMAIL, DemoPerson, seed_demo_person
from aybiza.services.seed import seed_demo
from aybiza.services.sign_in import Client
from aybiza.store.database import Database
from aybiza.store.migrate import upgrade_to_head


@pytest.fixture
async def database(tmp_path: Path) -> Database:
    db = Database(f"sqlite+aiosqlite:///{(tmp_path / 'demo.db').as_posix()}")
    await upgrade_to_head(db)
    return db


async def test_the_demo_person_is_made_once_and_signs_in(
    database: Database, tmp_path: Path
) -> None:
    try:
        assert await seed_demo_person(database, tmp_path) is None, "no demo tenant yet"
        await seed_demo(database, tmp_path)
        first = await seed_demo_person(database, tmp_path)
        assert first is not None and first.email == DEMO_EMAIL and first.password
        assert stat.S_IMODE(first.path.stat().st_mode) == 0o600
        again = await seed_demo_person(database, tmp_path)
        assert again is not None and again.password == first.password
        access = Access.build(database, AesGcmSecretBox(bytes(range(32))), AccessSettings())
        started = await access.sign_in.with_password(
            DEMO_EMAIL, first.password, tenant="demo", client=Client("127.0.0.1", "test")
        )
        who = await access.sessions.authenticate(started.token)
        assert who is not None and who.role == "owner" and who.tenant.name == "demo"
        await access.aclose()
    finally:
        await database.dispose()


def test_the_banner_shows_the_password_only_on_a_terminal(tmp_path: Path) -> None:
    person = DemoPerson(DEMO_EMAIL, "s3cret-pass", tmp_path / "demo-person")
    shown = dashboard_lines(person, "http://127.0.0.1:8080/", terminal=True)
    assert "sign in as demo@example.com / s3cret-pass" in shown
    hidden = dashboard_lines(person, "http://127.0.0.1:8080/", terminal=False)
    assert "s3cret-pass" not in hidden and "demo-person" in hidden
