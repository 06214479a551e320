"""Rotating the master key (``aybiza keys rotate``): every tenant's data key is re-wrapped, the
sealed data is left as it is, a running process keeps working, and a new process opens
everything with the new master key alone: with a key file, and with AWS KMS (the fake KMS,
through the real AWS SDK)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text
from tests.api.databases import BACKENDS, ScratchDatabase, create_database
from tests.fakes.kms import FakeKms
from typer.testing import CliRunner

from aybiza.cli import app
from aybiza.config import Settings
from aybiza.security.key_rotation import rotate_master_key
from aybiza.security.master_keys import KeyFileMasterKey, KmsMasterKey
from aybiza.store.database import Database
from aybiza.store.field_keys import MasterKey
from aybiza.store.migrate import upgrade_to_head
from aybiza.store.models import Call, Tenant, TranscriptLine, new_id


@pytest.fixture(params=BACKENDS)
def scratch(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ScratchDatabase]:
    database = create_database(request.param, tmp_path)
    try:
        yield database
    finally:
        database.drop()


@pytest.fixture
async def kms(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[FakeKms]:
    """The fake KMS, with AWS credentials in the environment (and nothing else to find)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    fake = FakeKms()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


async def _write_calls(database: Database, tenants: list[str]) -> None:
    async with database.writing() as session:
        for name in tenants:
            tenant = Tenant(name=name)
            session.add(tenant)
            await session.flush()
            call = Call(tenant_id=tenant.id, call_sid=new_id(), from_number="+14155550123")
            session.add(call)
            await session.flush()
            session.add(
                TranscriptLine(
                    tenant_id=tenant.id, call_id=call.id, seq=1, speaker="caller", text=name
                )
            )


async def _lines(database: Database) -> list[str]:
    async with database.session() as session:
        # Sorted here: in the database they are sealed, and so ordered by their ciphertext.
        return sorted((await session.execute(select(TranscriptLine.text))).scalars())


async def _raw(database: Database, query: str) -> list[tuple[object, ...]]:
    async with database.session() as session:
        return [tuple(row) for row in (await session.execute(text(query))).all()]


async def _rotation_keeps_everything_readable(
    scratch: ScratchDatabase, master: MasterKey, rotate: Settings, kms_key_id: str | None
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]], Database]:
    running = Database(scratch.url, master_key=master)
    await upgrade_to_head(running)
    await _write_calls(running, ["acme", "globex"])
    sealed_before = await _raw(running, "SELECT text FROM transcript_lines ORDER BY id")
    keys_before = await _raw(running, "SELECT id, wrapped, master_key_id FROM data_keys")

    done = await rotate_master_key(rotate, kms_key_id=kms_key_id)

    assert done.rewrapped == 2
    keys_after = await _raw(running, "SELECT id, wrapped, master_key_id FROM data_keys")
    assert {row[0] for row in keys_after} == {row[0] for row in keys_before}
    assert not {row[1] for row in keys_after} & {row[1] for row in keys_before}
    # Nothing sealed was re-encrypted, and the running process goes on reading and writing.
    assert await _raw(running, "SELECT text FROM transcript_lines ORDER BY id") == sealed_before
    await _write_calls(running, ["initech"])
    assert await _lines(running) == ["acme", "globex", "initech"]
    return keys_before, keys_after, running


async def test_a_key_file_rotation_re_wraps_every_data_key_without_re_encrypting(
    scratch: ScratchDatabase, tmp_path: Path
) -> None:
    key_file = tmp_path / "master.key"
    settings = Settings(data_dir=tmp_path, database_url=scratch.url, master_key_file=key_file)
    _before, after, running = await _rotation_keeps_everything_readable(
        scratch, KeyFileMasterKey(key_file), settings, None
    )
    await running.dispose()
    assert {row[2] for row in after} == {"file:v2"}
    assert [line.split()[0] for line in key_file.read_text().splitlines()] == ["v1", "v2"]

    # A new process with only the newest version of the file opens every key.
    newest = key_file.read_text().splitlines()[-1]
    only_new = tmp_path / "only-new.key"
    only_new.write_text(newest + "\n")
    fresh = Database(scratch.url, master_key=KeyFileMasterKey(only_new))
    try:
        assert fresh.field_keys is not None
        assert await fresh.field_keys.load_all() == 3
        assert await _lines(fresh) == ["acme", "globex", "initech"]
    finally:
        await fresh.dispose()


async def test_a_kms_rotation_re_encrypts_every_data_key_to_the_new_kms_key(
    scratch: ScratchDatabase, kms: FakeKms, tmp_path: Path
) -> None:
    old, new = kms.create_key(), kms.create_key(alias="alias/aybiza-2027")
    settings = Settings(
        data_dir=tmp_path,
        database_url=scratch.url,
        kms_key_id=old,
        kms_endpoint_url=kms.url,
        aws_region=kms.region,
    )
    master = KmsMasterKey(old, region=kms.region, endpoint_url=kms.url)
    before, after, running = await _rotation_keeps_everything_readable(
        scratch, master, settings, "alias/aybiza-2027"
    )
    await running.dispose()
    assert {row[2] for row in before} == {old}
    assert {row[2] for row in after} == {new}
    # Two tenants before the rotation, one after (by the new key); two keys re-encrypted.
    assert kms.requests.count("GenerateDataKey") == 3 and kms.requests.count("ReEncrypt") == 2

    # The re-wrapped keys name the new KMS key; a process configured with it opens them all
    # (the key made after the rotation by the running process, still on the old KMS key, too:
    # KMS finds a ciphertext's key itself).
    rotated = [base64.b64decode(str(row[1]))[:36].decode() for row in after]
    assert set(rotated) == {new.rsplit("/", 1)[1]}
    fresh = Database(
        scratch.url, master_key=KmsMasterKey(new, region=kms.region, endpoint_url=kms.url)
    )
    try:
        assert fresh.field_keys is not None
        assert await fresh.field_keys.load_all() == 3
        assert await _lines(fresh) == ["acme", "globex", "initech"]
    finally:
        await fresh.dispose()


def test_aybiza_keys_rotate_re_wraps_with_a_new_key_file_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'aybiza.db'}"
    monkeypatch.setenv("AYBIZA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AYBIZA_DATABASE_URL", url)
    monkeypatch.delenv("AYBIZA_KMS_KEY_ID", raising=False)
    monkeypatch.delenv("AYBIZA_MASTER_KEY_FILE", raising=False)

    async def write() -> None:
        database = Database(url, master_key=KeyFileMasterKey(tmp_path / "master.key"))
        try:
            await upgrade_to_head(database)
            await _write_calls(database, ["acme"])
        finally:
            await database.dispose()

    asyncio.run(write())
    rotated = CliRunner().invoke(app, ["keys", "rotate"])
    assert rotated.exit_code == 0, rotated.output
    assert "re-wrapped 1 data keys with master key file:v2" in rotated.output
    assert (tmp_path / "master.key").stat().st_mode & 0o777 == 0o600

    async def read() -> list[str]:
        database = Database(url, master_key=KeyFileMasterKey(tmp_path / "master.key"))
        try:
            assert await _raw(database, "SELECT master_key_id FROM data_keys") == [("file:v2",)]
            return await _lines(database)
        finally:
            await database.dispose()

    assert asyncio.run(read()) == ["acme"]
