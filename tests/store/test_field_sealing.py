"""Sealed columns (``aybiza.store.sealing``): call data written through the ORM or a Core
statement is stored as AES-256-GCM envelopes under the row's tenant's data key, read back in
plain text, bound to its tenant and column, and found again through the blind index."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert, select, text, update
from sqlalchemy.exc import StatementError
from tests.api.databases import BACKENDS, ScratchDatabase, create_database

from aybiza.security.master_keys import KeyFileMasterKey
from aybiza.store.automation_models import ToolCallRecord
from aybiza.store.calls import CallFilter, call_filters
from aybiza.store.database import Database
from aybiza.store.key_models import DataKey
from aybiza.store.migrate import upgrade_to_head
from aybiza.store.models import Call, Tenant, TranscriptLine, new_id, utcnow
from aybiza.store.sealing import PREFIX, SealingError, envelope_tenant
from aybiza.store.sealing_hooks import sealed_values

CARD = "4111 1111 1111 1111"
CALLER = "+14155550123"


@pytest.fixture(params=BACKENDS)
def scratch(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ScratchDatabase]:
    database = create_database(request.param, tmp_path)
    try:
        yield database
    finally:
        database.drop()


@pytest.fixture
async def database(scratch: ScratchDatabase, tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(scratch.url, master_key=KeyFileMasterKey(tmp_path / "master.key"))
    await upgrade_to_head(database)
    try:
        yield database
    finally:
        await database.dispose()


async def _tenant(database: Database, name: str) -> str:
    async with database.writing() as session:
        tenant = Tenant(name=name)
        session.add(tenant)
    return tenant.id


async def _call(database: Database, tenant_id: str, line: str) -> str:
    async with database.writing() as session:
        call = Call(
            tenant_id=tenant_id, call_sid=new_id(), from_number=CALLER, to_number="+15005550006"
        )
        session.add(call)
        await session.flush()
        session.add(
            TranscriptLine(tenant_id=tenant_id, call_id=call.id, seq=1, speaker="caller", text=line)
        )
    return call.id


async def _raw(database: Database, query: str) -> list[tuple[object, ...]]:
    async with database.session() as session:
        return [tuple(row) for row in (await session.execute(text(query))).all()]


async def test_orm_writes_are_sealed_at_rest_and_read_back_plain(database: Database) -> None:
    tenant = await _tenant(database, "acme")
    call_id = await _call(database, tenant, f"my card is {CARD}")

    [(stored_from, stored_to, from_index)] = await _raw(
        database, "SELECT from_number, to_number, from_number_index FROM calls"
    )
    [(stored_line,)] = await _raw(database, "SELECT text FROM transcript_lines")
    for stored in (stored_from, stored_to, stored_line):
        assert isinstance(stored, str) and stored.startswith(PREFIX)
        envelope = base64.urlsafe_b64decode(stored[len(PREFIX) :])
        assert envelope[:2] == b"v1"
        assert envelope_tenant(envelope) == (tenant, 1)
    assert CARD not in repr(await _raw(database, "SELECT * FROM transcript_lines"))
    assert CALLER not in repr(await _raw(database, "SELECT * FROM calls"))
    assert isinstance(from_index, str) and len(from_index) == 64

    [(key_tenant, wrapped, master_key_id)] = await _raw(
        database, "SELECT tenant_id, wrapped, master_key_id FROM data_keys"
    )
    assert (key_tenant, master_key_id) == (tenant, "file:v1")
    assert len(base64.b64decode(str(wrapped))) == 12 + 32 + 16

    async with database.session() as session:
        call = await session.get(Call, call_id)
        line = (await session.execute(select(TranscriptLine))).scalar_one()
    assert call is not None and (call.from_number, call.to_number) == (CALLER, "+15005550006")
    assert line.text == f"my card is {CARD}"


async def test_a_fresh_process_reads_with_the_keys_it_unwraps_from_the_database(
    database: Database, scratch: ScratchDatabase, tmp_path: Path
) -> None:
    tenant = await _tenant(database, "acme")
    await _call(database, tenant, "hello")
    second = Database(scratch.url, master_key=KeyFileMasterKey(tmp_path / "master.key"))
    try:
        assert second.field_keys is not None
        assert await second.field_keys.load_all() == 1
        async with second.session() as session:
            line = (await session.execute(select(TranscriptLine))).scalar_one()
        assert line.text == "hello"
    finally:
        await second.dispose()


async def test_another_master_key_cannot_open_the_data_keys(
    database: Database, scratch: ScratchDatabase, tmp_path: Path
) -> None:
    tenant = await _tenant(database, "acme")
    await _call(database, tenant, "hello")
    thief = Database(scratch.url, master_key=KeyFileMasterKey(tmp_path / "other.key"))
    try:
        assert thief.field_keys is not None
        with pytest.raises(Exception, match="fails authentication"):
            await thief.field_keys.load_all()
    finally:
        await thief.dispose()


async def test_a_core_statement_without_a_tenant_is_refused_naming_the_column(
    database: Database,
) -> None:
    tenant = await _tenant(database, "acme")
    call_id = await _call(database, tenant, "hello")
    with pytest.raises(StatementError, match=r"transcript_lines\.text is sealed at rest"):
        async with database.writing() as session:
            await session.execute(
                insert(TranscriptLine).values(
                    id=new_id(), tenant_id=tenant, call_id=call_id, seq=2, speaker="agent", text="x"
                )
            )


async def test_a_core_insert_marked_with_sealed_values_is_sealed(database: Database) -> None:
    tenant = await _tenant(database, "acme")
    call_id = await _call(database, tenant, "hello")
    values = {
        "id": new_id(),
        "tenant_id": tenant,
        "call_id": call_id,
        "tool_call_id": "t1",
        "name": "take_payment",
        "kind": "http",
        "arguments": {"card": CARD},
        "result": {"ok": True, "email": "jo@example.com"},
        "outcome": "ok",
    }
    async with database.writing() as session:
        marked = await sealed_values(session, ToolCallRecord, tenant, values)
        await session.execute(insert(ToolCallRecord).values(**marked))
    raw = repr(await _raw(database, "SELECT arguments, result FROM tool_calls"))
    assert CARD not in raw and "example.com" not in raw and PREFIX in raw
    async with database.session() as session:
        row = (await session.execute(select(ToolCallRecord))).scalar_one()
    assert (row.arguments, row.result) == (values["arguments"], values["result"])


async def test_a_sealed_value_moved_to_another_tenant_or_column_fails_to_open(
    database: Database,
) -> None:
    acme, other = await _tenant(database, "acme"), await _tenant(database, "other")
    acme_call = await _call(database, acme, "acme's secret")
    other_call = await _call(database, other, "other's line")
    async with database.writing() as session:
        [(sealed,)] = (
            await session.execute(
                text("SELECT text FROM transcript_lines WHERE call_id = :id"), {"id": acme_call}
            )
        ).all()
        await session.execute(
            text("UPDATE transcript_lines SET text = :t WHERE call_id = :id"),
            {"t": sealed, "id": other_call},
        )
        await session.execute(
            text("UPDATE calls SET to_number = :t WHERE id = :id"), {"t": sealed, "id": acme_call}
        )
    async with database.session() as session:
        with pytest.raises(SealingError, match="fails authentication"):
            await session.get(Call, acme_call)
    async with database.session() as session:
        with pytest.raises(SealingError, match="was sealed for tenant"):
            await session.execute(
                select(TranscriptLine).where(TranscriptLine.call_id == other_call)
            )


async def test_rows_from_before_sealing_are_read_as_they_were_stored(database: Database) -> None:
    tenant = await _tenant(database, "acme")
    call_id = await _call(database, tenant, "sealed line")
    async with database.writing() as session:
        await session.execute(
            text(
                "INSERT INTO transcript_lines (id, tenant_id, call_id, seq, speaker, text, at) "
                "VALUES (:id, :tenant, :call, 2, 'agent', 'a legacy plain line', :at)"
            ),
            {"id": new_id(), "tenant": tenant, "call": call_id, "at": utcnow()},
        )
    async with database.session() as session:
        lines = (
            await session.execute(select(TranscriptLine).order_by(TranscriptLine.seq))
        ).scalars()
        assert [line.text for line in lines] == ["sealed line", "a legacy plain line"]


async def test_calls_are_found_by_number_through_the_blind_index(database: Database) -> None:
    acme, other = await _tenant(database, "acme"), await _tenant(database, "other")
    acme_call = await _call(database, acme, "hello")
    await _call(database, other, "hello")
    keys = database.field_keys
    assert keys is not None
    async with database.session() as session:
        index = await keys.index_of(session, acme, "+1 415 555 0123")
        found = await session.execute(
            select(Call.id).where(
                Call.tenant_id == acme, *call_filters(CallFilter(number=CALLER), index)
            )
        )
        assert list(found.scalars()) == [acme_call]
        # Another tenant's index of the same number is another value.
        assert await keys.index_of(session, other, CALLER) != index


async def test_a_key_created_in_a_transaction_that_rolls_back_is_forgotten(
    database: Database,
) -> None:
    tenant = await _tenant(database, "acme")
    with pytest.raises(RuntimeError):
        async with database.writing() as session:
            session.add(Call(tenant_id=tenant, call_sid=new_id(), from_number=CALLER))
            await session.flush()
            raise RuntimeError("the write fails after the key was made")
    assert await _raw(database, "SELECT id FROM data_keys") == []
    await _call(database, tenant, "after the rollback")
    async with database.session() as session:
        assert len((await session.execute(select(DataKey))).all()) == 1
        line = (await session.execute(select(TranscriptLine))).scalar_one()
    assert line.text == "after the rollback"


async def test_updates_through_the_orm_are_sealed_again(database: Database) -> None:
    tenant = await _tenant(database, "acme")
    call_id = await _call(database, tenant, "hello")
    async with database.writing() as session:
        call = await session.get(Call, call_id)
        assert call is not None
        call.to_number = "+15005550199"
    async with database.writing() as session:
        await session.execute(update(Call).where(Call.id == call_id).values(status="completed"))
    [(stored,)] = await _raw(database, "SELECT to_number FROM calls")
    assert str(stored).startswith(PREFIX)
    async with database.session() as session:
        call = await session.get(Call, call_id)
    assert call is not None and (call.to_number, call.status) == ("+15005550199", "completed")


async def test_recordings_are_sealed_as_bytes_bound_to_their_purpose(database: Database) -> None:
    tenant = await _tenant(database, "acme")
    keys = database.field_keys
    assert keys is not None
    audio = bytes(range(256)) * 40
    async with database.writing() as session:
        sealed = await keys.encrypt_bytes(session, tenant, "recordings", audio)
    assert audio[:64] not in sealed and sealed[:2] == b"v1"
    assert envelope_tenant(sealed) == (tenant, 1)
    assert keys.decrypt_bytes(sealed, "recordings") == audio
    with pytest.raises(SealingError, match="fails authentication"):
        keys.decrypt_bytes(sealed, "transcript_lines.text")
    with pytest.raises(SealingError, match="truncated"):
        keys.decrypt_bytes(sealed[:20], "recordings")
